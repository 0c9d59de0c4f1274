#!/bin/bash
# Starts the compose file's Kafka (apache/kafka image) with infra/kafka/server.properties. The first
# start formats the storage and writes the super user's SCRAM credentials into the KRaft metadata
# (--add-scram), so the broker can authenticate its admin before any ACL exists; the other users and
# the ACLs are created by the kafka-setup job, over SASL_SSL, as that admin.
set -euo pipefail
admin_password=$(cat /run/kafka/admin.password)
# The password is hex (infra/kafka_secrets.py): nothing sed would read as syntax.
sed "s/@ADMIN_PASSWORD@/${admin_password}/" /opt/tongban/server.properties > /tmp/server.properties
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  /opt/kafka/bin/kafka-storage.sh format --config /tmp/server.properties --standalone \
    --cluster-id "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${admin_password}]"
fi
exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties
