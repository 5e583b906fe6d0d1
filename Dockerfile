# The one image behind every service in compose.yaml (api, migrate, worker, beat).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ddex ./ddex
COPY integrity ./integrity
COPY workers ./workers
COPY models ./models
RUN pip install --no-cache-dir ".[s3]"

RUN useradd --system --uid 10001 --home-dir /var/lib/integrity integrity \
    && mkdir -p /var/lib/integrity \
    && chown integrity /var/lib/integrity
USER integrity
ENV INTEGRITY_DATA_DIR=/var/lib/integrity INTEGRITY_MODELS_DIR=/app/models
EXPOSE 8000
CMD ["integrity", "serve", "--host", "0.0.0.0", "--port", "8000"]
