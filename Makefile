# lair — build, test, sanitize, fuzz.
#   make            library, CLI and tests into build/
#   make test       every test; ends with "N passed, N failed"
#   make asan       the same tests built with AddressSanitizer + UBSan (build/asan/)
#   make tsan       the multi-threaded tests under ThreadSanitizer (build/tsan/)
#   make fuzz       libFuzzer targets (clang), each for FUZZ_SECONDS
#   make run        the main job on a demo model (see README)
#   make cross-test aarch64 build whose unit tests run under qemu-user

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2 -g
SAN      ?=
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2
CPPFLAGS := -Iinclude -Isrc
CFLAGS   := -std=c11 $(WARN) $(OPT) $(SAN) -MMD -MP $(EXTRA_CFLAGS)
LDLIBS   := -lpcre2-8 -lutf8proc -ljansson -lm -lpthread
# the CLI also links libedit (line editing for lair chat; BSD licence) and
# libmicrohttpd (lair serve) and libcurl (lair bench serve); the tests need none
TOOL_LDLIBS ?= -ledit -lmicrohttpd -lcurl
LDFLAGS  := $(SAN) $(EXTRA_LDFLAGS)
RUN_PREFIX ?=

LIB_SRC  := $(sort $(shell find src -name '*.c'))
TOOL_SRC := $(sort $(wildcard tools/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT_SRC := $(filter-out $(TEST_SRC),$(sort $(wildcard tests/*.c)))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# data/ (machine catalog, benchmark prompts) is compiled into the CLI
DATA_FILES := $(sort $(shell find data -type f))
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/data_files.o
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test asan tsan fuzz run clean cross-test
all: $(BUILD)/lair $(BUILD)/liblair.a $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/data_files.c: $(DATA_FILES) tools/embed_data.sh
	@mkdir -p $(dir $@)
	sh tools/embed_data.sh $(DATA_FILES) > $@

$(BUILD)/obj/gen/data_files.o: $(BUILD)/gen/data_files.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itools $(CFLAGS) -c $< -o $@

$(BUILD)/liblair.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/lair: $(TOOL_OBJ) $(BUILD)/liblair.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/liblair.a $(TOOL_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_OBJ) $(BUILD)/liblair.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/liblair.a $(LDLIBS)

test: all
	@BUILD=$(BUILD) RUN_PREFIX="$(RUN_PREFIX)" sh tests/run.sh

# (LAIR_SANITIZED: the slowest end-to-end tests take fewer samples)
asan:
	LAIR_SANITIZED=1 $(MAKE) BUILD=build/asan OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# The tests that run threads (engine, quantizer), under ThreadSanitizer.
TSAN_TESTS := test_engine test_gguf test_sched
tsan:
	$(MAKE) BUILD=build/tsan OPT="-O1 -g" SAN="-fsanitize=thread" $(TSAN_TESTS:%=build/tsan/tests/%)
	@mkdir -p build/tsan/testtmp
	@for t in $(TSAN_TESTS); do LAIR_TMP=build/tsan/testtmp TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/$$t || exit 1; done

# Cross build for 64-bit Arm; tests run under qemu-user on a CPU with every
# extension (-cpu max: dotprod for the NEON kernels).  Linked statically:
# dynamically linked aarch64 programs hang in pthread_create under Debian 12's
# qemu-user 7.2, static ones do not.  The CLI is compiled but not linked:
# Debian ships libmicrohttpd's TLS dependencies (p11-kit, libunistring) for
# arm64 without static archives, and the CLI tests do not run under qemu.
cross-test:
	$(MAKE) BUILD=build/aarch64 CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar EXTRA_LDFLAGS=-static \
	  tool-objs test-bins
	@BUILD=build/aarch64 RUN_PREFIX="qemu-aarch64 -cpu max" LAIR_TESTS_QUICK=1 sh tests/run.sh

.PHONY: tool-objs test-bins
tool-objs: $(TOOL_OBJ)
test-bins: $(BUILD)/liblair.a $(TEST_BIN)

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
build/fuzz/%: fuzz/%.c $(LIB_SRC)
	@mkdir -p build/fuzz
	clang $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ $< $(LIB_SRC) -lmicrohttpd $(LDLIBS)
fuzz: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh fuzz/run.sh $(FUZZ_BIN)

# make run [MODEL=path.gguf] [SERVE_ARGS="--port 9000 ..."]: the server in the foreground
# (Ctrl-C stops it); without MODEL, on a demo model made with lair gen.
DEMO_MODEL := $(BUILD)/demo-tiny-q4_k_m.gguf
MODEL ?=
SERVE_ARGS ?=
run: $(BUILD)/lair
	@if [ -z "$(MODEL)" ]; then test -f $(DEMO_MODEL) || \
	  $(BUILD)/lair gen -o $(DEMO_MODEL) --arch llama --preset tiny --type q4_k_m; fi
	$(BUILD)/lair serve -m $(if $(MODEL),$(MODEL),$(DEMO_MODEL)) $(SERVE_ARGS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
