/* hex.c - the hex digit table (hex.h). */
#include "hex.h"

const char hex_digits[16] = "0123456789abcdef";
