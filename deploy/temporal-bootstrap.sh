#!/bin/sh
# One-shot: wait for the server, create the namespace, register the engine's search attributes.
set -eu
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
attempts=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
  attempts=$((attempts + 1))
  if [ "$attempts" -ge 60 ]; then echo "Temporal at $ADDRESS is not healthy" >&2; exit 1; fi
  sleep 2
done
temporal operator namespace describe --address "$ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1 \
  || temporal operator namespace create --address "$ADDRESS" -n "$NAMESPACE" --retention 30d
# Keep in step with billing/search_attributes.py (a test checks it).
temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" \
  --name BillingStatus --type Keyword \
  --name Provider --type Keyword \
  --name CustomerId --type Keyword \
  --name AmountMinor --type Int \
  --name Currency --type Keyword \
  --name NextBillingAt --type Datetime || true
