# The two commands the README promises, on a fresh machine:
#   make demo   - install what is missing, build, then run the example host application
#   make test   - install what is missing, build, then run the whole suite (pytest + ctest)
# `make deps` installs system and Python packages (scripts/install-deps) and leaves a
# stamp, so later runs touch neither apt nor pip until its inputs change; `make build`
# only compiles.
PYTHON ?= python3
CTEST_BUILD ?= build/ctest
DEPS_STAMP := build/.deps-$(notdir $(PYTHON))

.PHONY: deps build demo test pytest ctest ctest-asan lint bench clean

$(DEPS_STAMP): scripts/install-deps requirements-dev.txt
	PYTHON=$(PYTHON) scripts/install-deps
	@mkdir -p $(dir $@) && touch $@

deps: $(DEPS_STAMP)

build:
	$(PYTHON) setup.py -q build_ext --inplace

demo: $(DEPS_STAMP) build
	$(PYTHON) examples/host_app.py

pytest: $(DEPS_STAMP) build
	$(PYTHON) -m pytest -q

ctest: $(DEPS_STAMP)
	cmake -S . -B $(CTEST_BUILD) -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	cmake --build $(CTEST_BUILD) -j2
	ctest --test-dir $(CTEST_BUILD) --output-on-failure

ctest-asan:
	$(MAKE) ctest CTEST_BUILD=build/asan CMAKE_ARGS=-DSDK_GUARD_SANITIZE=ON

test: pytest ctest

lint: $(DEPS_STAMP)
	scripts/lint

bench: $(DEPS_STAMP) build
	$(PYTHON) bench/run_all.py

clean:
	rm -rf build python/sdk_guard/*.so
