# agentbase: plain GNU make + pkg-config.
#   make            build build/agentbase
#   make run        install what is missing, build, start the embedded cluster, migrate, seed
#   make test       install what is missing, build, run every test suite
#   make SAN=1 ...  the same with AddressSanitizer + UndefinedBehaviorSanitizer (build/san/)
#   make ext        build the PostgreSQL extensions (ext/) and install them (make run and
#                   make test do it too)
#   make format / format-check, make bench, make install PREFIX=/usr/local, make clean
#   V=1 shows the compiler commands

SAN ?= 0
V ?= 0
Q := $(if $(filter 1,$(V)),,@)
PREFIX ?= /usr/local
VERSION := 0.1.0

ifeq ($(SAN),1)
BUILD := build/san
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD := build
OPT := -O2 -g
endif

# zlib: /openapi.json is served gzip-compressed to clients that take it.
PKGS := libpq libsodium libmicrohttpd jansson zlib
LIBS_EXTRA := -lpthread -lm
CC ?= cc
# Messages are cut to fit fixed error buffers on purpose, hence -Wno-format-truncation.
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Isrc -I$(BUILD)/gen \
	-DAB_VERSION='"$(VERSION)"'
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS_BASE) $(OPT) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(OPT) $(LDFLAGS)

LIB_SRC := $(sort $(wildcard src/core/*.c src/pg/*.c src/cluster/*.c src/backup/*.c src/migrate/*.c src/auth/*.c src/http/*.c \
	src/secret/*.c src/usage/*.c src/api/*.c src/app/*.c src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/embedded.o
BIN := $(BUILD)/agentbase
EMBED_FILES := $(sort $(wildcard db/migrations/*.sql)) $(sort $(wildcard db/seed/base/*.sql)) \
	$(sort $(wildcard db/seed/dev/*.sql)) src/auth/common-passwords.txt
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# C tests that need a server: run by the db suite against its throwaway cluster.
DBTEST_SRC := $(sort $(wildcard tests/db/test_*.c))
DBTEST_BIN := $(DBTEST_SRC:tests/db/test_%.c=$(BUILD)/tests/db_test_%)
# End-to-end tests over HTTP (libcurl): run by the api suite against a running server.
APITEST_SRC := $(sort $(wildcard tests/api/test_*.c))
APITEST_BIN := $(APITEST_SRC:tests/api/test_%.c=$(BUILD)/tests/api_test_%)
FORMAT_SRC = $(shell find src tests/unit tests/db tests/api tools bench ext \( -name '*.[ch]' -o -name '*.cpp' \) 2>/dev/null)

.PHONY: all deps ext run test unit format format-check bench install clean
all: $(BIN)

deps:
	@scripts/install-deps

# Never sanitized: the extensions run inside the PostgreSQL server (build/ext).
ext: deps
	@scripts/install-ext

# The list of embedded files is itself a dependency: adding or removing a migration
# must regenerate the table even when no listed file changed.
$(shell mkdir -p $(BUILD)/gen && echo '$(EMBED_FILES)' | cmp -s - $(BUILD)/gen/embedded.list || \
	echo '$(EMBED_FILES)' > $(BUILD)/gen/embedded.list)

build/tools/embed: tools/embed.c
	@mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/gen/embedded.c: build/tools/embed $(EMBED_FILES) $(BUILD)/gen/embedded.list
	$(Q)build/tools/embed $@ $(EMBED_FILES)

$(BUILD)/obj/gen/embedded.o: $(BUILD)/gen/embedded.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BIN): $(LIB_OBJ) $(BUILD)/obj/src/main.o
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LIBS_EXTRA)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LIBS_EXTRA) -lcmocka

# The vector kernels' unit test runs the extension's own kernels.
$(BUILD)/tests/test_vector: $(BUILD)/obj/ext/agentbase_vector/src/distance.o
$(BUILD)/tests/test_vector: CFLAGS += -Iext/agentbase_vector/src
# And the hnsw index's level and neighbour selection.
$(BUILD)/tests/test_hnsw: $(BUILD)/obj/ext/agentbase_vector/src/hnswselect.o
$(BUILD)/tests/test_hnsw: CFLAGS += -Iext/agentbase_vector/src

$(BUILD)/tests/db_test_%: tests/db/test_%.c $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LIBS_EXTRA) -lcmocka

$(BUILD)/tests/api_test_%: tests/api/test_%.c tests/api/client.c tests/api/client.h $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/api -o $@ tests/api/test_$*.c tests/api/client.c $(LIB_OBJ) \
		$(PKG_LIBS) $(LIBS_EXTRA) $(shell pkg-config --libs libcurl) -lcmocka

unit: $(UNIT_BIN) $(DBTEST_BIN) $(APITEST_BIN)

run: deps ext $(BIN)
	$(BIN) up --dev

# Every suite: unit (cmocka), SQL (pgTAP via pg_prove), database concurrency scripts and
# CLI end-to-end scripts, each against throwaway clusters that are always removed.
TEST_SUITES ?=
test: deps ext $(BIN) $(UNIT_BIN) $(DBTEST_BIN) $(APITEST_BIN)
	@AB_BIN=$(abspath $(BIN)) AB_UNIT_DIR=$(abspath $(BUILD)/tests) tests/run $(TEST_SUITES)

# The load generator of bench/run (epoll, plain sockets: as light on the machine as it can be).
$(BUILD)/bench/usage_load: bench/usage_load.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_BASE) $(OPT) -o $@ $<

# bench/hnsw.sh's reference index (hnswlib, header-only) and data set, at -O3 as the
# extension's distance kernels (ext/agentbase_vector/Makefile: distance.o), and for the
# instruction set those kernels choose at load time (src/distance.c's target_clones):
# x86-64-v3 (AVX2, FMA) where the CPU has it, hnswlib's AVX path; else the baseline (SSE).
HNSWLIB_ARCH := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && \
	echo -march=x86-64-v3)
$(BUILD)/bench/hnswlib_bench: bench/hnswlib_bench.cpp
	@mkdir -p $(@D)
	$(Q)g++ -std=c++17 -O3 $(HNSWLIB_ARCH) -g -Wall -Wextra -Werror -o $@ $<

# bench/hnsw.sh's HTTP client of the search endpoint (one keep-alive connection, libcurl).
$(BUILD)/bench/search_load: bench/search_load.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_BASE) $(OPT) -o $@ $< $(shell pkg-config --cflags --libs libcurl jansson)

bench: deps $(BIN) $(BUILD)/bench/usage_load
	@scripts/install-deps --bench
	@$(MAKE) -s $(BUILD)/bench/hnswlib_bench $(BUILD)/bench/search_load
	@AB_BIN=$(abspath $(BIN)) AB_LOAD=$(abspath $(BUILD)/bench/usage_load) \
		AB_HNSWLIB=$(abspath $(BUILD)/bench/hnswlib_bench) \
		AB_SEARCH_LOAD=$(abspath $(BUILD)/bench/search_load) bench/run $(BENCH)

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/agentbase

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
