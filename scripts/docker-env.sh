#!/usr/bin/env bash
# Make sure a real Docker engine answers and the images the tests need exist, setting them up
# from Debian packages when they don't (no Docker Hub needed). Safe to run again and again.
#
#   scripts/docker-env.sh              # engine + busybox:latest
#   scripts/docker-env.sh --registry   # ... + a local registry on 127.0.0.1:5000 holding
#                                      #     127.0.0.1:5000/busybox:latest
#
# What it may do, each step only when needed:
#   - apt-get install docker.io busybox-static docker-registry (apt-get update first if the
#     package lists are missing or the install fails with the cached ones);
#   - start dockerd in the background (vfs storage, no iptables rules), logging to
#     /tmp/nosana-tui-dockerd.log, pid in /tmp/nosana-tui-dockerd.pid;
#   - build busybox:latest from Debian's static busybox (every applet linked) via `docker import`;
#   - with --registry: start Debian's docker-registry on 127.0.0.1:5000 (config and storage in
#     /tmp, log /tmp/nosana-tui-registry.log, pid /tmp/nosana-tui-registry.pid) and push to it a
#     separately imported busybox (own layer, not kept locally), so pulls really download.
#
# Environment: NOSANA_TUI_DOCKER_WAIT (seconds to wait for dockerd, default 60).
set -euo pipefail

PREFIX=nosana-tui
DOCKERD_LOG=/tmp/$PREFIX-dockerd.log
DOCKERD_PID=/tmp/$PREFIX-dockerd.pid
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_DIR=/tmp/$PREFIX-registry
REGISTRY_CONF=/tmp/$PREFIX-registry.yml
REGISTRY_LOG=/tmp/$PREFIX-registry.log
REGISTRY_PID=/tmp/$PREFIX-registry.pid
IMAGE=busybox:latest
REGISTRY_IMAGE=$REGISTRY_ADDR/busybox:latest
WAIT_S=${NOSANA_TUI_DOCKER_WAIT:-60}

want_registry=0
for arg in "$@"; do
    case "$arg" in
        --registry) want_registry=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "docker-env: unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

say() { echo "docker-env: $*"; }
die() {
    echo "docker-env: ERROR: $*" >&2
    exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    fi
fi
as_root() {
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "need root (or passwordless sudo) to run: $*"
    fi
    "${SUDO[@]}" "$@"
}

docker_ok() { timeout 20 docker info >/dev/null 2>&1; }
image_ok() { timeout 20 docker image inspect "$1" >/dev/null 2>&1; }

http_get() { # print the body of a 2xx answer from a (local) URL; never through a proxy
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 5 --noproxy '*' "$1" 2>/dev/null
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O - --timeout=5 --no-proxy "$1" 2>/dev/null
    elif command -v busybox >/dev/null 2>&1; then
        # Not `wget -T`: Debian's busybox < 1.36.1-5 lacks the timeout feature and segfaults on it.
        timeout 5 busybox wget -q -Y off -O - "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request as u
sys.stdout.write(u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=5).read().decode())' \
            "$1" 2>/dev/null
    fi
}
http_ok() { http_get "$1" >/dev/null; }

alive() { # alive PIDFILE NAME: the pid in PIDFILE is a live (not zombie) process called NAME
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() { # apt_install PKG... : install the given Debian packages
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these yourself: $*"
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        say "apt-get update (no package lists yet)"
        as_root apt-get update -q || die "apt-get update failed"
    fi
    say "apt-get install $*"
    if ! as_root apt-get install "${opts[@]}" "$@"; then
        say "install failed with the cached package lists; apt-get update and retry"
        as_root apt-get update -q || die "apt-get update failed"
        as_root apt-get install "${opts[@]}" "$@" || die "apt-get install $* failed"
    fi
}

# One set-up at a time (parallel test workers, a CI step next to a test run).
LOCK=/tmp/$PREFIX-docker-env.lock
if command -v flock >/dev/null 2>&1; then
    exec 9>>"$LOCK"
    if ! flock -n 9; then
        say "another docker-env.sh is running; waiting for it"
        flock -w 900 9 || die "timed out waiting for $LOCK"
    fi
fi

# ---------------------------------------------------------------- packages
need_docker=0
docker_ok || need_docker=1
missing=()
if [ $need_docker -eq 1 ]; then
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        missing+=(docker.io)
    fi
fi
# The image needs a *static* busybox: Debian's plain `busybox` package is dynamically linked.
if [ $need_docker -eq 1 ] || ! image_ok "$IMAGE"; then
    pkg_installed busybox-static || missing+=(busybox-static)
fi
if [ $want_registry -eq 1 ] && ! http_ok "http://$REGISTRY_ADDR/v2/"; then
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

# ---------------------------------------------------------------- engine
if docker_ok; then
    say "docker engine answers ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null || echo '?'))"
else
    # A package install may have started the system's own service (systemd); give it a moment.
    if [ ${#missing[@]} -gt 0 ] && pidof dockerd >/dev/null 2>&1; then
        for _ in $(seq 1 15); do
            docker_ok && break
            sleep 1
        done
    fi
fi
if ! docker_ok; then
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found even after installing docker.io"
    if alive "$DOCKERD_PID" dockerd; then
        say "dockerd (pid $(cat "$DOCKERD_PID")) is running but not answering yet; waiting"
    elif pidof dockerd >/dev/null 2>&1; then
        say "a dockerd (pid $(pidof dockerd)) is running but not answering; waiting for it"
    else
        say "starting dockerd (vfs storage, no iptables; log $DOCKERD_LOG)"
        log_from=$(stat -c %s "$DOCKERD_LOG" 2>/dev/null || echo 0)
        as_root rm -f "$DOCKERD_PID"
        if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
            die "need root (or passwordless sudo) to start dockerd"
        fi
        # A plain command (not a function) in the background: no shell lingers as its parent.
        "${SUDO[@]}" setsid nohup dockerd \
            --storage-driver=vfs --iptables=false --ip6tables=false \
            --pidfile "$DOCKERD_PID" >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
        disown || true
    fi
    dockerd_log_tail() {
        echo "---- $DOCKERD_LOG (this start's last lines)" >&2
        tail -c +$((${log_from:-0} + 1)) "$DOCKERD_LOG" 2>/dev/null | tail -n 30 >&2 || true
    }
    started=$SECONDS
    deadline=$((SECONDS + WAIT_S))
    until docker_ok; do
        if [ $SECONDS -ge $deadline ]; then
            dockerd_log_tail
            die "dockerd did not answer within ${WAIT_S}s (see $DOCKERD_LOG)"
        fi
        if ! pidof dockerd >/dev/null 2>&1; then
            sleep 1
            docker_ok && break
            dockerd_log_tail
            die "dockerd exited (see $DOCKERD_LOG)"
        fi
        sleep 1
    done
    say "docker engine answers after $((SECONDS - started))s ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null || echo '?'))"
fi

# ---------------------------------------------------------------- busybox:latest
import_busybox() { # import_busybox TAG [NOTE]: a one-layer busybox image from Debian's static busybox
    local tag=$1 note=${2:-} bb=/bin/busybox root n=0 applet out
    [ -x "$bb" ] || bb=$(command -v busybox || true)
    [ -n "$bb" ] && [ -x "$bb" ] || die "no busybox binary (busybox-static not installed?)"
    if command -v file >/dev/null 2>&1 && ! file -L "$bb" | grep -q 'statically linked'; then
        die "$bb is not statically linked; install busybox-static"
    fi
    say "building $tag from $bb ($("$bb" 2>&1 | head -n 1 || true))"
    root=$(mktemp -d "/tmp/$PREFIX-busybox-rootfs.XXXXXX") || die "mktemp failed"
    [ -n "$root" ] && [ -d "$root" ] && [ "$root" != / ] || die "no scratch directory for the rootfs"
    # shellcheck disable=SC2064  # expand now: $root is local
    trap "rm -rf '$root'" EXIT
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,www,root,home,var/www,dev,proc,sys}
    chmod 755 "$root" "$root"/{bin,sbin,usr,usr/bin,usr/sbin,etc,www,home,var,var/www}
    chmod 700 "$root/root"
    chmod 1777 "$root/tmp"
    cp "$bb" "$root/bin/busybox"
    chmod 755 "$root/bin/busybox"
    while IFS= read -r applet; do # "bin/sh", "usr/bin/wget", ...: keep busybox's own layout
        [ -n "$applet" ] || continue
        case "$applet" in bin/busybox) continue ;; esac
        ln -sf /bin/busybox "$root/$applet"
        n=$((n + 1))
    done < <("$bb" --list-full)
    # ... and every applet also under /bin, like the Docker Hub image.
    while IFS= read -r applet; do
        [ -n "$applet" ] && [ "$applet" != busybox ] || continue
        [ -e "$root/bin/$applet" ] || [ -L "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done < <("$bb" --list)
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
    echo "127.0.0.1 localhost" >"$root/etc/hosts"
    echo "ok" >"$root/www/index.html"
    chmod 644 "$root"/etc/{passwd,group,hosts} "$root/www/index.html"
    if [ -n "$note" ]; then
        echo "$note" >"$root/etc/nosana-tui-image"
        chmod 644 "$root/etc/nosana-tui-image"
    fi
    tar --numeric-owner --owner=0 --group=0 -C "$root" -c . |
        docker import \
            -c 'CMD ["sh"]' \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -m "nosana-tui: Debian busybox-static, $n applets${note:+; $note}" \
            - "$tag" >/dev/null || die "docker import of $tag failed"
    rm -rf "$root"
    trap - EXIT
    out=$(docker run --rm --user nobody "$tag" sh -c 'echo ok' 2>&1) || die "docker run $tag failed: $out"
    [ "$out" = ok ] || die "docker run $tag printed '$out' instead of 'ok'"
    say "imported $tag ($n applets) and ran it"
}

if image_ok "$IMAGE"; then
    say "image $IMAGE present"
else
    import_busybox "$IMAGE"
fi

# ---------------------------------------------------------------- registry
if [ $want_registry -eq 1 ]; then
    if http_ok "http://$REGISTRY_ADDR/v2/"; then
        say "registry answers on http://$REGISTRY_ADDR/v2/"
    else
        command -v docker-registry >/dev/null 2>&1 || die "docker-registry not found"
        # Debian's packaged service listens on :5000 and wants htpasswd auth; ours needs that port.
        if command -v systemctl >/dev/null 2>&1 &&
            systemctl is-active --quiet docker-registry 2>/dev/null; then
            say "stopping the system docker-registry service (it holds :5000 and wants auth)"
            as_root systemctl stop docker-registry || true
        fi
        if alive "$REGISTRY_PID" docker-registry; then
            say "registry (pid $(cat "$REGISTRY_PID")) running but not answering yet; waiting"
        else
            mkdir -p "$REGISTRY_DIR"
            cat >"$REGISTRY_CONF" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
            say "starting docker-registry on $REGISTRY_ADDR (storage $REGISTRY_DIR, log $REGISTRY_LOG)"
            setsid nohup docker-registry serve "$REGISTRY_CONF" \
                >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&- &
            echo $! >"$REGISTRY_PID"
            disown || true
        fi
        deadline=$((SECONDS + 30))
        until http_ok "http://$REGISTRY_ADDR/v2/"; do
            if [ $SECONDS -ge $deadline ] || ! alive "$REGISTRY_PID" docker-registry; then
                echo "---- last lines of $REGISTRY_LOG" >&2
                tail -n 20 "$REGISTRY_LOG" >&2 2>/dev/null || true
                die "registry did not answer on http://$REGISTRY_ADDR/v2/ (see $REGISTRY_LOG)"
            fi
            sleep 0.5
        done
        say "registry answers on http://$REGISTRY_ADDR/v2/"
    fi
    # The registry's copy is imported separately (plus a marker file), so its layer is one that
    # busybox:latest doesn't share, and it is removed locally after the push: pulling it really
    # downloads a layer (with progress), and `docker rmi` of it leaves busybox:latest alone.
    if http_get "http://$REGISTRY_ADDR/v2/busybox/tags/list" | grep -q '"latest"'; then
        say "registry holds $REGISTRY_IMAGE"
    else
        import_busybox "$REGISTRY_IMAGE" "copy served by the local test registry $REGISTRY_ADDR"
        say "pushing $REGISTRY_IMAGE"
        docker push "$REGISTRY_IMAGE" >/dev/null || die "docker push $REGISTRY_IMAGE failed"
        docker rmi "$REGISTRY_IMAGE" >/dev/null || die "docker rmi $REGISTRY_IMAGE failed"
        say "pushed $REGISTRY_IMAGE (and removed it locally: tests pull it)"
    fi
fi

say "ready"
