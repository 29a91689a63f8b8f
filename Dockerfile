# One image for every labcloud service; the command picks the part to run.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md application_config.yaml ./
COPY labcloud labcloud
COPY shared shared
COPY userfacing_api userfacing_api
COPY workerfacing_api workerfacing_api
COPY worker worker
RUN pip install --no-cache-dir .
ENV APPLICATION_CONFIG_FILE=/app/application_config.yaml
EXPOSE 8000 8001
CMD ["labcloud", "--help"]
