# mbmicro: two commands do everything on a fresh Debian machine.
#   make demo   set up, build MobileNetV2 for cortex-a53, run it in QEMU
#   make test   set up, run the test suite
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi gcc-aarch64-linux-gnu qemu-system-arm qemu-user cmake gdb-multiarch chromium
STAMP := .setup-done
DEMO_DIR ?= out/demo-mobilenetv2-a53

.PHONY: setup demo test benchmarks clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi
	$(PYTHON) -m pip install -q -e '.[test,tune-xgb]'
	@touch $(STAMP)

demo: setup
	$(PYTHON) -m mbmicro demo --out $(DEMO_DIR)

test: setup
	$(PYTHON) -m pytest -q -n 2 tests

benchmarks: setup
	$(PYTHON) benchmarks/run_all.py

clean:
	rm -rf out $(STAMP) .pytest_cache .hypothesis
