#!/bin/sh
# Creates the namespace and mentorflow's search attributes, then waits until the frontend
# serves both, so workers start against a cluster that is ready for them. Safe to re-run.
# SEARCH_ATTRIBUTES lists name=Type pairs (workflows/search_attributes.py is the source).
set -eu

NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_RETENTION:-30d}
export TEMPORAL_ADDRESS

# retry WHAT COMMAND...: run COMMAND until it succeeds, 2 s apart, for up to 3 minutes.
retry() {
  what=$1
  shift
  tries=0
  until "$@" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "${tries}" -ge 90 ]; then
      echo "gave up waiting for ${what}"
      exit 1
    fi
    echo "waiting for ${what}"
    sleep 2
  done
}

retry "Temporal at ${TEMPORAL_ADDRESS}" temporal operator cluster health

temporal operator namespace describe --namespace "${NAMESPACE}" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "${NAMESPACE}" --retention "${RETENTION}"

# A new namespace reaches the frontend's cache a few seconds after it is written.
retry "namespace ${NAMESPACE}" temporal operator search-attribute list --namespace "${NAMESPACE}"
known=$(temporal operator search-attribute list --namespace "${NAMESPACE}")
for pair in ${SEARCH_ATTRIBUTES}; do
  name=${pair%%=*}
  type=${pair#*=}
  if echo "${known}" | grep -qw "${name}"; then
    echo "search attribute ${name} exists"
  else
    temporal operator search-attribute create --namespace "${NAMESPACE}" \
      --name "${name}" --type "${type}"
  fi
done

# Attributes are cached too: wait until the frontend answers a query that uses them.
first=${SEARCH_ATTRIBUTES%%=*}
retry "search attributes in ${NAMESPACE}" temporal workflow list --namespace "${NAMESPACE}" \
  --limit 1 --query "${first} = 'ready-check'"
echo "namespace ${NAMESPACE} is ready"
