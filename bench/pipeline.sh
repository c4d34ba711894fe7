#!/usr/bin/env bash
# The seeds' multi-stage pipeline as a plain script: `docker run -d` per op, and host-side polling
# of the published ports (curl every $POLL seconds, default 0.25 = nosana-tui's first interval)
# between the stages. busybox httpd stands in for every image; each sleeps $DELAY seconds
# (default 0) before it listens.
#
#   bench/pipeline.sh up NAME PORT_DB PORT_REDIS PORT_API PORT_WEB   # returns when all 4 answer
#   bench/pipeline.sh down NAME
set -euo pipefail
POLL=${POLL:-0.25}
IMAGE=busybox:latest

serve() { echo "sleep ${DELAY:-0}; mkdir -p /www && echo '<h1>$1</h1>' > /www/index.html && exec busybox httpd -f -p $2 -h /www"; }
wait_http() { until curl -sf -m 5 -o /dev/null "http://127.0.0.1:$1/"; do sleep "$POLL"; done; }

cmd=$1 name=$2
case $cmd in
up)
    docker network create "$name" >/dev/null
    # stage infrastructure
    docker run -d --name "$name-database" --network "$name" --network-alias database \
        -e POSTGRES_DB=app -p "127.0.0.1:$3:5432" $IMAGE sh -c "$(serve database 5432)" >/dev/null
    docker run -d --name "$name-redis" --network "$name" --network-alias redis \
        -p "127.0.0.1:$4:6379" $IMAGE sh -c "$(serve redis 6379)" >/dev/null
    wait_http "$3"
    wait_http "$4"
    # stage application
    docker run -d --name "$name-api-server" --network "$name" --network-alias api-server \
        -e DATABASE_URL=postgres://database:5432/app -e REDIS_URL=redis://redis:6379 \
        -p "127.0.0.1:$5:3000" $IMAGE sh -c "$(serve api-server 3000)" >/dev/null
    docker run -d --name "$name-web-frontend" --network "$name" --network-alias web-frontend \
        -e API_URL=http://api-server:3000 \
        -p "127.0.0.1:$6:80" $IMAGE sh -c "$(serve web-frontend 80)" >/dev/null
    wait_http "$5"
    wait_http "$6"
    ;;
down)
    docker rm -f "$name-database" "$name-redis" "$name-api-server" "$name-web-frontend" >/dev/null
    docker network rm "$name" >/dev/null
    ;;
*)
    echo "usage: $0 up NAME P1 P2 P3 P4 | down NAME" >&2
    exit 2
    ;;
esac
