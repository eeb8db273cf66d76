# hcs container images. Two targets, one Dockerfile:
#
#   score  slim CPU scorer: OpenVINO + ONNX Runtime, no TensorFlow, default model included
#   train  TensorFlow 2.15.1 + Horovod 0.28.1 (Gloo and OpenMPI) for `hcs train` and horovodrun/mpirun
#
#   docker build --target score -t hcs:score .
#   docker build --target train -t hcs:train .
#   (no daemon: ../shared/tools/oci-build . hcs:score --build-arg BASE_IMAGE=localhost/python:3.11-slim --target score)
#
# Layers are ordered for the cache: requirements (derived from pyproject.toml's dependency lists only)
# -> dependencies -> Horovod -> the hcs source. Editing code rebuilds only the last, small layers.
# Compilers live only in the builder stages; the final stages get a ready venv at /opt/venv.
# See docs/docker.md.

ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS base
ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# ---------------------------------------------------------------------------------------------------
# Requirement files from pyproject.toml. Their content (not pyproject.toml's) keys the dependency
# layers below, so a version bump or a lint setting does not reinstall 2 GB of wheels.
FROM base AS requirements
WORKDIR /req
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
open('score.txt', 'w').write(chr(10).join(p['dependencies']) + chr(10)); \
open('train.txt', 'w').write(chr(10).join(p['optional-dependencies']['train']) + chr(10))" \
 && cat score.txt train.txt

# ---------------------------------------------------------------------------------------------------
FROM base AS score-builder
RUN python -m venv /opt/venv && pip install -q -U pip wheel 'setuptools>=77'
COPY --from=requirements /req/score.txt /req/constraints.txt /req/
# Trimmed after install (about 100 MB), none of it used by a CPU scorer: the wheels' test suites,
# OpenVINO's GPU/NPU plugins (+ GPU kernel cache) and the model-conversion frontends other than
# IR and ONNX, pyarrow's Flight RPC libraries (pyarrow.lib itself links Substrait: that one stays).
RUN pip install -q -c /req/constraints.txt -r /req/score.txt \
 && sp=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && rm -rf "$sp"/pandas/tests "$sp"/pyarrow/tests "$sp"/matplotlib/tests \
 && find "$sp"/numpy "$sp"/scipy -depth -type d -name tests -exec rm -rf {} + \
 && find /opt/venv -name '*.pyi' -delete \
 && cd "$sp"/openvino/libs \
 && rm -f libopenvino_intel_gpu_plugin.so libopenvino_intel_npu_plugin.so cache.json \
      libopenvino_tensorflow_frontend.so* libopenvino_tensorflow_lite_frontend.so* libopenvino_paddle_frontend.so* \
      libopenvino_pytorch_frontend.so* libopenvino_jax_frontend.so* libopenvino_gguf_frontend.so* \
 && cd "$sp"/pyarrow && rm -f libarrow_flight.so* libarrow_python_flight.so* _flight.*.so
WORKDIR /src
COPY setup.py pyproject.toml constraints.txt README.md ./
COPY cli ./cli
COPY mcnn_infer ./mcnn_infer
COPY mcnn_train ./mcnn_train
RUN pip install -q --no-deps --no-build-isolation . && pip uninstall -q -y wheel \
 && hcs --version

# ---------------------------------------------------------------------------------------------------
FROM base AS score
LABEL org.opencontainers.image.title="hcs scorer" \
      org.opencontainers.image.description="Score high-content-screening plates on CPU with the M-CNN (OpenVINO / ONNX Runtime)"
RUN useradd --uid 1000 --user-group --create-home --shell /bin/bash hcs \
 && mkdir -p /data /results /work /opt/hcs/models \
 && chown hcs:hcs /results /work
COPY --from=score-builder /opt/venv /opt/venv
# The default model (models/mcnn-small-synth) and any others kept in the repo's models/ folder.
COPY models/ /opt/hcs/models/
ENV HCS_MODEL_DIR=/opt/hcs/models/mcnn-small-synth \
    MPLCONFIGDIR=/tmp/matplotlib
USER hcs
WORKDIR /work
# Plates are mounted read-only at /data, results are written to /results.
VOLUME ["/results"]
ENTRYPOINT ["hcs"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------------
FROM base AS train-builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ make cmake libopenmpi-dev openmpi-bin \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv && pip install -q -U pip wheel 'setuptools>=77'
COPY --from=requirements /req/score.txt /req/train.txt /req/constraints.txt /req/
RUN pip install -q -c /req/constraints.txt -r /req/score.txt -r /req/train.txt
# Horovod is compiled against the TensorFlow just installed (hence no build isolation), with Gloo and MPI.
RUN HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITH_MPI=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS=-j2 \
    pip install -q -c /req/constraints.txt --no-build-isolation horovod==0.28.1 \
 && horovodrun --check-build
WORKDIR /src
COPY setup.py pyproject.toml constraints.txt README.md ./
COPY cli ./cli
COPY mcnn_infer ./mcnn_infer
COPY mcnn_train ./mcnn_train
RUN pip install -q --no-deps --no-build-isolation . && hcs --version

# ---------------------------------------------------------------------------------------------------
FROM base AS train
LABEL org.opencontainers.image.title="hcs trainer" \
      org.opencontainers.image.description="Train the M-CNN with TensorFlow 2.15.1 + Horovod 0.28.1 (Gloo, OpenMPI)"
# OpenMPI runtime (mpirun, libmpi) and ssh for horovodrun/mpirun across containers; no compilers.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      openmpi-bin libopenmpi3 openssh-client openssh-server procps \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*_key* \
 && useradd --uid 1000 --user-group --create-home --shell /bin/bash hcs \
 && mkdir -p /data /results /runs /work \
 && chown hcs:hcs /results /runs /work
COPY --from=train-builder /opt/venv /opt/venv
# hcs-sshd: start a user-level sshd (port $HCS_SSH_PORT) so horovodrun/mpirun on another container can
# start workers here; ssh sessions get the image's environment (PATH to the venv, OpenMPI settings).
# See docs/docker.md "Train on several machines".
RUN printf '%s\n' '#!/bin/sh' \
  'set -eu' \
  'port=${HCS_SSH_PORT:-2222}; d=$HOME/.sshd; mkdir -p "$d"' \
  '[ -f "$d/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$d/host_ed25519"' \
  'env=""; for v in PATH LANG VIRTUAL_ENV PYTHONUNBUFFERED MPLCONFIGDIR TF_CPP_MIN_LOG_LEVEL OMPI_MCA_btl_vader_single_copy_mechanism; do eval "x=\${$v:-}"; [ -z "$x" ] || env="$env $v=$x"; done' \
  'printf "Port %s\nHostKey %s/host_ed25519\nPidFile %s/sshd.pid\nUsePAM no\nPasswordAuthentication no\nAcceptEnv *\nSetEnv%s\n" "$port" "$d" "$d" "$env" > "$d/sshd_config"' \
  'echo "hcs-sshd: listening on port $port as $(id -un)"' \
  'exec /usr/sbin/sshd -D -e -f "$d/sshd_config"' > /usr/local/bin/hcs-sshd \
 && chmod 755 /usr/local/bin/hcs-sshd
ENV MPLCONFIGDIR=/tmp/matplotlib \
    TF_CPP_MIN_LOG_LEVEL=2 \
    OMPI_MCA_btl_vader_single_copy_mechanism=none \
    OMPI_MCA_plm_rsh_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
USER hcs
WORKDIR /work
ENTRYPOINT ["hcs"]
CMD ["--help"]
