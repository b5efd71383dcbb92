FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["policyguard"]
CMD ["worker"]
