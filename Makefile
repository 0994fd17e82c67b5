# `make test` and `make demo` are the README's two commands: both build .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint demo bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,crf,bdry,jax]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The quickstart: train on the images inside scikit-image (resumes if runs/quickstart exists), export,
# segment those images at the training scale. Then the shipped model (wnet_tf/weights/bsds500, three
# W-Nets trained on BSDS500) segments and post-processes the same images: overlays, and UCM hierarchies
# with their cuts, and `view` writes a page to browse those hierarchies at any threshold.
DEMO_RUN := runs/quickstart
DEMO_MODEL := saved_models/quickstart
DEMO_OUT := $(DEMO_RUN)/segments
SHIPPED_OUT := runs/bsds500-demo
# The colour photographs among scikit-image's samples (the others are tests of texture, text, tiles).
SHIPPED_IMAGES := astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png
demo: $(STAMP)
	$(PY) -m wnet_tf.train configs/quickstart.json --workdir $(DEMO_RUN)
	$(PY) -m wnet_tf.export $(DEMO_RUN) --out $(DEMO_MODEL)
	images="$$($(PY) -c 'import skimage; print(skimage.data_dir)')" && \
	$(PY) -m wnet_tf.segment "$$images" --model $(DEMO_MODEL) --out $(DEMO_OUT) && \
	mkdir -p $(SHIPPED_OUT)/images && \
	for name in $(SHIPPED_IMAGES); do cp "$$images/$$name" $(SHIPPED_OUT)/images/; done
	$(PY) -m wnet_tf.segment $(SHIPPED_OUT)/images --model bsds500 --out $(SHIPPED_OUT)/segments
	$(PY) -m wnet_tf.cli postprocess --model bsds500 --images $(SHIPPED_OUT)/images \
		--out $(SHIPPED_OUT)/ucm
	$(PY) -m wnet_tf.cli view $(SHIPPED_OUT)/ucm --images $(SHIPPED_OUT)/images \
		--segments $(SHIPPED_OUT)/segments
	@echo "Quickstart label maps and overlays: $(DEMO_OUT)/*_labels.png, *_overlay.png"
	@echo "Shipped bsds500 model: $(SHIPPED_OUT)/segments/*_overlay.png, $(SHIPPED_OUT)/ucm/*_cut.png"
	@echo "Its hierarchies, cut live in a browser: $(SHIPPED_OUT)/ucm/index.html (the file:// address above)"
	@echo "TensorBoard (pip install tensorboard): tensorboard --logdir runs"

lint: $(STAMP)
	$(VENV)/bin/ruff check wnet_tf tools tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
