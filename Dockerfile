FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
RUN pip install --no-cache-dir . \
    && mkdir -p /var/lib/policyguard \
    && chown nobody:nogroup /var/lib/policyguard
# Faust keeps its local state under POLICYGUARD_DATA_DIR: a directory its user can write.
ENV POLICYGUARD_DATA_DIR=/var/lib/policyguard
USER nobody
ENTRYPOINT ["policyguard"]
CMD ["worker"]
