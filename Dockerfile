# The app for a class: hosted mode (each visitor's models in their own space), offline first start
# (the bundled samples in core/data/ and the shipped models in model/), models on a volume.
# How to build, run and scale it: docs/serving.md. The build needs PyPI and nothing else.
#
#   docker build -t nn-playground .
#   docker run --init -d -p 8501:8501 -v nn-models:/data/models --name nn nn-playground
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NN_HOSTED=1 \
    NN_OFFLINE=1 \
    NN_MODEL_DIR=/data/models \
    NN_CACHE_DIR=/data/cache

# A user without a login shell or rights; the app's files stay root's, so it cannot change them.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app

WORKDIR /app
# The app's requirements only (not requirements-dev.txt): first, so code changes reuse this layer.
COPY requirements.txt ./
RUN pip install --no-compile -r requirements.txt

COPY streamlit_app.py ./
COPY .streamlit/config.toml .streamlit/
COPY app/ app/
COPY pages/ pages/
# core/ includes core/data/: the bundled samples of MNIST and Fashion-MNIST the offline app uses.
COPY core/ core/
COPY model/mnist/pretrained.npz model/mnist/convnet.npz model/mnist/
COPY model/fashion-mnist/pretrained.npz model/fashion-mnist/convnet.npz model/fashion-mnist/

# The model store, for the user "app": the visitors' saved models only. In hosted mode the app
# reads the shipped models above from /app/model, read-only, never from the store: replicas
# sharing one store each read their own image's (app/hosting.py, shipped_root). /data/cache:
# datasets downloaded with NN_OFFLINE=0 (mount a volume there to keep them).
RUN mkdir -p /data/models /data/cache && chown app:app /data/models /data/cache
VOLUME ["/data/models"]

USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4); sys.exit(0 if r.read() == b'ok' else 1)"]

# Exec form, no shell: the server itself receives the container's stop signal.
CMD ["streamlit", "run", "streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
