# Build, run and test the chat service. See README.md.
#
#   make run      install what is missing, build, start everything, print the URL
#   make test     the same in a throwaway directory, then every test
#   make bench    side-by-side benchmarks into docs/BENCHMARKS.md
#
# SANITIZE=1 builds with ASan and UBSan.

CC      ?= cc
PKGS    := libmicrohttpd hiredis libcjson libpq inih openssl libcurl
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
           -D_GNU_SOURCE -Ilib $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -largon2 -lwslay -lfcgi -lpthread -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# Sanitized builds live apart, so objects of the two kinds never mix.
B ?= build$(if $(filter 1,$(SANITIZE)),-san)

LIB_SRC    := $(wildcard lib/*.c)
API_SRC    := $(wildcard cgi/*.c)
PUSH_SRC   := $(wildcard sse/*.c)
NOTIFY_SRC := $(wildcard notify/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(B)/%.o)
API_OBJ    := $(API_SRC:%.c=$(B)/%.o)
PUSH_OBJ   := $(PUSH_SRC:%.c=$(B)/%.o)
NOTIFY_OBJ := $(NOTIFY_SRC:%.c=$(B)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

BINS := $(B)/chat-api $(B)/chat-push $(if $(NOTIFY_SRC),$(B)/chat-notify)

.PHONY: all deps run test test-unit bench check-style clean stop

all: $(BINS) $(UNIT_BIN)

$(B)/%.o: %.c $(wildcard lib/*.h cgi/*.h sse/*.h notify/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libchat.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

# chat-api's handlers without main(), so unit tests can reach its pure parts.
$(B)/libchatapi.a: $(filter-out $(B)/cgi/main.o,$(API_OBJ))
	$(AR) rcs $@ $^

$(B)/chat-api: $(B)/cgi/main.o $(B)/libchatapi.a $(B)/libchat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/chat-push: $(PUSH_OBJ) $(B)/libchat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/chat-notify: $(NOTIFY_OBJ) $(B)/libchat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests may #include a module's .c to reach its statics, so they link
# against libchat.a only for what they do not include.
$(B)/tests/%: tests/unit/%.c $(B)/libchatapi.a $(B)/libchat.a $(wildcard lib/*.h cgi/*.h sse/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libchatapi.a $(B)/libchat.a $(LDLIBS) -lcmocka

# Installs the Debian packages and npm modules that are missing (as root).
deps:
	@./scripts/deps.sh

run: deps all
	@./chatctl run

test: deps all
	@B=$(B) ./tests/run.sh

test-unit: all
	@B=$(B) ./tests/run.sh unit

bench: deps all
	@B=$(B) ./bench/run.sh

check-style:
	@clang-format --dry-run --Werror lib/*.[ch] cgi/*.[ch] sse/*.[ch] $(wildcard notify/*.[ch])

clean:
	rm -rf build build-san
