# Build, run and test the chat service. See README.md.
#
#   make run      install what is missing, build, start everything, print the URL
#   make test     the same in a throwaway directory, then every test
#   make bench    side-by-side benchmarks into docs/BENCHMARKS.md
#   make build    install what is missing, then build (what the three above do first)
#
# SANITIZE=1 builds with ASan and UBSan; FUZZ=1 with clang for libFuzzer (make fuzz).

CC      ?= cc
PKGS    := libmicrohttpd hiredis libcjson libpq inih openssl libcurl
# Installs what is missing (scripts/deps.sh); the tests replace it to
# check that run/test/bench build only after it.
DEPS    ?= ./scripts/deps.sh

# pkg-config is asked when this Makefile is parsed. run, test and bench
# therefore build in a new make, started after deps has installed the
# packages (the first make's answer may predate them); a build asked for
# directly stops here if the libraries are missing.
NO_BUILD_GOALS := deps build run test bench fuzz check-style clean stop
ifneq ($(filter-out $(NO_BUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell pkg-config --exists $(PKGS) && echo yes),yes)
$(error libraries missing ($(shell pkg-config --print-errors --exists $(PKGS) 2>&1 | head -n 1)): run make deps first)
endif
endif
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
           -D_GNU_SOURCE -Ilib $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -largon2 -lwslay -lfcgi -lpthread -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# FUZZ=1 builds with clang for libFuzzer (tests/fuzz): coverage, ASan, UBSan.
ifeq ($(FUZZ),1)
CC      := clang
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

# Sanitized and fuzzing builds live apart, so objects of the kinds never mix.
B ?= build$(if $(filter 1,$(SANITIZE)),-san)$(if $(filter 1,$(FUZZ)),-fuzz)

LIB_SRC    := $(wildcard lib/*.c)
API_SRC    := $(wildcard cgi/*.c)
PUSH_SRC   := $(wildcard sse/*.c)
NOTIFY_SRC := $(wildcard notify/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(B)/%.o)
API_OBJ    := $(API_SRC:%.c=$(B)/%.o)
PUSH_OBJ   := $(PUSH_SRC:%.c=$(B)/%.o)
NOTIFY_OBJ := $(NOTIFY_SRC:%.c=$(B)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)

BINS := $(B)/chat-api $(B)/chat-push $(if $(NOTIFY_SRC),$(B)/chat-notify)

.PHONY: all deps build run test test-unit bench fuzz fuzz-bins check-style clean stop

all: $(BINS) $(UNIT_BIN)

$(B)/%.o: %.c $(wildcard lib/*.h cgi/*.h sse/*.h notify/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libchat.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

# chat-api's handlers without main(), so unit tests can reach its pure parts.
$(B)/libchatapi.a: $(filter-out $(B)/cgi/main.o,$(API_OBJ))
	$(AR) rcs $@ $^

# chat-push without main(), for the fuzz targets (tests/fuzz).
$(B)/libchatpush.a: $(filter-out $(B)/sse/main.o,$(PUSH_OBJ))
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

# libFuzzer targets (tests/fuzz/README.md), built with FUZZ=1.
FUZZ_LIBS := $(B)/libchatapi.a $(B)/libchatpush.a $(B)/libchat.a
$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIBS) $(wildcard lib/*.h cgi/*.h sse/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_LIBS) $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

# make fuzz SECONDS=N: every target N seconds (default 20), as make test does.
fuzz: build
	@$(MAKE) --no-print-directory FUZZ=1 B=build-fuzz fuzz-bins
	@B=build-fuzz ./tests/fuzz/run.sh $(or $(SECONDS),20)

# Installs the Debian packages and npm modules that are missing (as root).
deps:
	@$(DEPS)

# deps, then everything built by a new make (see pkg-config above).
build: deps
	@$(MAKE) --no-print-directory all

run: build
	@./chatctl run

test: build
	@B=$(B) ./tests/run.sh

test-unit: all
	@B=$(B) ./tests/run.sh unit

bench: build
	@B=$(B) ./bench/run.sh

check-style:
	@clang-format --dry-run --Werror lib/*.[ch] cgi/*.[ch] sse/*.[ch] $(wildcard notify/*.[ch])

clean:
	rm -rf build build-san
