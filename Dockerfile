# One image for every Signaalpunt service (the service is chosen by its command in compose.yaml).
FROM python:3.11-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY . .
RUN uv sync --all-packages --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH"
