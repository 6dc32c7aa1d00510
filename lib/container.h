/* container.h - container_of: from a pointer to a member to its struct.
 *
 * As the Linux kernel's: ptr points at the member `member` of a `type`;
 * the result is that type's address. No check: ptr must really be inside
 * one (a wrong type is undefined behaviour, as any bad cast). */
#ifndef CHAT_CONTAINER_H
#define CHAT_CONTAINER_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
