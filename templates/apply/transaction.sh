# remediate's apply transaction, run on the target as root (POSIX sh, coreutils, systemd; no Python).
#
#   sh -c "$(cat transaction.sh)" remediate COMMAND BASE RUN_ID [ARGS...]
#
# Every host value (paths, owners, run ids) arrives as a positional parameter, never as script text.
# Results are lines for the controller: "ok STEP DETAIL", "fail STEP DETAIL", "locked OWNER", "state STATE".
# Files change only by rename(2) of a fully written, fsynced temp file in the same directory, so every
# path is at all times either its old or its new version. prepare, commit and restore ignore SIGHUP and
# SIGPIPE: a dropped connection lets them finish (or roll back) on their own; a commit's or restore's log
# stays in the run directory, and while they run the lock names their pid (lock-info: "busy PID").
#
# Test hook (tests/lab/test_faults_apply.py; the controller adds it only when REMEDIATE_TEST_PAUSE is set in
# its own environment): an optional first argument --pause=POINT makes the script stop at POINT (staged: all
# files staged, not yet prepared; renamed-first: the first file renamed into place; renamed: every file in
# place, before daemon-reload and the restart) until the test removes $rundir/paused (at most 120s), so a test
# can cut the connection or kill the host at that exact moment.
#
# An ENTRY is 13 words: PATH OP BEFORE_SHA BEFORE_MODE BEFORE_OWNER BEFORE_GROUP OWNER GROUP MODE LEN SHA INDEX
# INODE
#   OP: write (content, LEN bytes from stdin, sha256 SHA), delete, meta (chown/chmod only);
#   BEFORE_SHA: sha256 of the content found, "absent", or "-" (no content check: not a regular file, or a
#   metadata-only change of a file whose bytes remediate never reads, such as a TLS key);
#   BEFORE_MODE/OWNER/GROUP: as found ("-" when absent; mode as `stat -c %a` prints it); OWNER GROUP MODE:
#   as wanted; INDEX: the entry's number, naming its backup copy files/INDEX; INODE: DEV:INO of the path as
#   the plan found it ("-": not known, or not stable, like a socket a daemon recreates).
#
# Root never acts through a link a user could plant: before every write, rename, delete, chown, chmod and
# restore the script checks that every directory on the way to the path (as written and as resolved) is
# root's alone, that a path changed in place is not a symlink and is still the inode the plan was made from,
# and it changes owners with `chown -h`. Temp files get unpredictable names from mktemp (O_EXCL, 0600).

set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
LC_ALL=C; export LC_ALL
umask 077
pause=
case ${1-} in --pause=*) pause=${1#--pause=}; shift ;; esac
cmd=$1 base=$2 run=$3
shift 3
case $run in ''|.|..|*/*) printf 'fail usage bad run id\n'; exit 2 ;; esac
lockdir=$base/lock
rundir=$base/runs/$run

# say LINE: one line for the controller, and in the run's log once a commit or restore started. It never
# fails: with the connection gone stdout is a broken pipe, and the run must go on as if it were heard.
log=
say() {
    line=$(printf '%s' "$*" | tr '\n\r' '  ')
    printf '%s\n' "$line" 2>/dev/null
    [ -z "$log" ] || printf '%s\n' "$line" >>"$log"
    return 0
}
die() { say "fail $1 $2"; exit "${3:-1}"; }

sha() { sha256sum -- "$1" 2>/dev/null | cut -d' ' -f1; }
meta() { stat -c '%a %U %G' -- "$1" 2>/dev/null; }
inode() { stat -c '%d:%i' -- "$1" 2>/dev/null; }
parent() { case $1 in /*/*) printf '%s' "${1%/*}" ;; *) printf / ;; esac; }

# small FILE: the first 4 KiB of one of our own record files, only if it is a regular file (a FIFO or a
# device planted in its place would block or stream forever).
small() { [ -f "$1" ] && [ ! -L "$1" ] && head -c 4096 -- "$1" 2>/dev/null; }

# unsafe_dir DIR: why root must not create, replace or change anything in DIR, or nothing. Every directory
# from / to DIR, as written and as resolved, must be root's and writable by root alone (a symlink on the
# way must be root's too; what it points to is checked as the resolved path): otherwise another user could
# swap a name in it for a link between our check and our step. While prepare stages a run, a directory
# listed in $tightened (one this run makes root's alone, first thing in its commit) is let through: the
# commit checks again once it is tightened, and what was staged in it before is verified then.
tightened=
unsafe_dir() {
    d=$1
    while [ ! -e "$d" ] && [ ! -L "$d" ]; do d=$(parent "$d"); done
    r=$(readlink -f -- "$d" 2>/dev/null) || { printf '%s cannot be resolved' "$d"; return; }
    set --
    for x in "$d" "$r"; do
        while :; do set -- "$@" "$x"; [ "$x" = / ] && break; x=$(parent "$x"); done
    done
    stat -c '%u %f %n' -- "$@" 2>/dev/null | {
        while read -r uid raw name; do
            case $tightened in *"
$name
"*) continue ;; esac
            type=$(( 0x$raw & 0170000 ))
            if [ "$uid" != 0 ]; then printf '%s is owned by uid %s, not root' "$name" "$uid"; break; fi
            if [ "$type" = 16384 ]; then
                [ $(( 0x$raw & 18 )) = 0 ] || { printf '%s is writable by users other than root' "$name"; break; }
            elif [ "$type" != 40960 ]; then
                printf '%s is not a directory' "$name"; break
            fi
        done
    }
}

# unsafe PATH [INODE]: why root must not act on PATH now, or nothing: its directories (unsafe_dir), a
# symlink where a file is changed in place, or another inode than the one the plan was made from.
unsafe() {
    why=$(unsafe_dir "$(parent "$1")")
    if [ -n "$why" ]; then printf '%s' "$why"; return; fi
    [ $# -ge 2 ] || return 0
    if [ -L "$1" ]; then printf '%s is a symlink: it would be followed' "$1"; return; fi
    if [ "$2" != - ] && [ -e "$1" ] && [ "$(inode "$1")" != "$2" ]; then
        printf '%s is no longer the file the plan was made from (inode %s, planned %s)' "$1" "$(inode "$1")" "$2"
    fi
}

# guard STEP PATH [INODE]: say why and fail when root must not act on PATH now (unsafe).
guard() {
    why=$(unsafe "$2" ${3+"$3"})
    [ -z "$why" ] || { say "fail $1 refused to touch $2: $why"; return 1; }
}

# staged PATH INDEX: the temp file prepare staged for entry INDEX (its random name is kept in the run).
staged() { small "$rundir/staged/$2"; }

# newtemp PATH: a new empty 0600 temp file next to PATH, with a name nobody can guess (O_EXCL).
newtemp() { mktemp -- "$(parent "$1")/.${1##*/}.remediate-XXXXXXXXXX"; }

# each FN ENTRY... : FN gets one entry's 13 words at a time; stops at the first failure.
each() {
    fn=$1; shift
    while [ $# -ge 13 ]; do
        "$fn" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "${11}" "${12}" "${13}" || return 1
        shift 13
    done
}

# every FN ENTRY... : like each, but goes on past a failure (a restore puts back all it can); fails if any did.
every() {
    fn=$1; shift
    failed=0
    while [ $# -ge 13 ]; do
        "$fn" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "${11}" "${12}" "${13}" || failed=1
        shift 13
    done
    return $failed
}

pause_at() {  # POINT: the test hook (see the header), once per run; a no-op unless --pause=POINT
    [ "$pause" = "$1" ] || return 0
    printf '%s\n' "$1" >"$rundir/paused"
    waited=0
    while [ -e "$rundir/paused" ] && [ "$waited" -lt 600 ]; do sleep 0.2; waited=$(( waited + 1 )); done
    rm -f -- "$rundir/paused"
    pause=
}

holder() { small "$lockdir/owner" || echo "unknown holder"; }
lock_run() { small "$lockdir/run"; }
boot_id() { cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown; }

lock_held_by_us() { [ "$(lock_run)" = "$run" ]; }

# The steps that go on without the controller (prepare, commit, restore) note their pid and its start time in
# the lock while they run: a lock whose controller is gone is not stale while its run still works on the host.
started() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
mark_busy() {
    printf '%s %s\n' "$$" "$(started $$)" >"$lockdir/busy"
    trap 'rm -f -- "$lockdir/busy"' EXIT
}

# --- lock ------------------------------------------------------------------------------------------
lock() {  # $1: owner description (one line)
    # Nothing is touched before the backups have a place: an unusable $base stops the run here, with why.
    why=$(unsafe "$base" -)
    [ -z "$why" ] || die lock "the backups directory $base cannot be used, nothing changed: $why"
    err=$({ mkdir -p -- "$base/runs" && chmod 0700 -- "$base" "$base/runs"; } 2>&1) \
        || die lock "the backups directory $base cannot be used, nothing changed: $err"
    why=$(unsafe_dir "$base/runs")
    [ -z "$why" ] || die lock "the backups directory $base cannot be used, nothing changed: $why"
    if mkdir -- "$lockdir" 2>/dev/null; then
        printf '%s\n' "$run" >"$lockdir/run"
        printf '%s boot=%s since=%s\n' "$1" "$(boot_id)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$lockdir/owner"
        sync -- "$lockdir/run" "$lockdir/owner" 2>/dev/null
        say "ok lock acquired"
        return 0
    fi
    say "locked $(lock_run) $(holder)"
    say "bootid $(boot_id)"
    exit 75
}

unlock() {
    if [ ! -d "$lockdir" ]; then say "ok unlock not locked"; return 0; fi
    lock_held_by_us || die unlock "the lock is held by run $(lock_run), not $run" 75
    rm -rf -- "$lockdir" && say "ok unlock released"
}

lock_info() {
    if [ -d "$lockdir" ]; then say "locked $(lock_run) $(holder)"; else say "unlocked"; fi
    say "bootid $(boot_id)"
    holder_run=$(lock_run)
    case $holder_run in ''|.|..|*/*) ;; *)
        if [ -d "$lockdir" ] && [ -f "$base/runs/$holder_run/state" ]; then
            say "state $(small "$base/runs/$holder_run/state")"
        fi ;;
    esac
    busy=$(small "$lockdir/busy")
    bpid=${busy%% *} bstart=${busy#* }
    if [ -n "$busy" ] && [ "$bstart" != "$busy" ] && [ "$(started "$bpid")" = "$bstart" ]; then
        say "busy $bpid"
    fi
}

break_lock() {  # $1: the run id the caller saw holding it (refuse if it changed since)
    [ -d "$lockdir" ] || { say "ok unlock not locked"; return 0; }
    [ "$(lock_run)" = "$1" ] || die unlock "the lock changed hands (now $(lock_run))" 75
    rm -rf -- "$lockdir" && say "ok unlock broken"
}

# --- prepare: compare-and-swap, backups, staged temp files ------------------------------------------
cas() {
    p=$1 op=$2 bsha=$3
    guard unsafe "$p" || return 1
    if [ "$bsha" = absent ]; then
        if [ -e "$p" ] || [ -L "$p" ]; then say "fail cas $p appeared since the plan was made"; return 1; fi
        return 0
    fi
    if [ ! -e "$p" ]; then say "fail cas $p disappeared since the plan was made"; return 1; fi
    if [ "$op" = meta ] && [ -L "$p" ]; then say "fail cas $p is now a symlink: chmod/chown would change what it points to"; return 1; fi
    if [ "$bsha" != - ]; then
        [ -f "$p" ] && [ ! -L "$p" ] || { say "fail cas $p is no longer a regular file"; return 1; }
        [ "$(sha "$p")" = "$bsha" ] || { say "fail cas $p changed since the plan was made (content)"; return 1; }
    fi
    if [ "$4" != - ] && [ "$(meta "$p")" != "$4 $5 $6" ]; then
        say "fail cas $p changed since the plan was made (now $(meta "$p"), planned from $4 $5 $6)"; return 1
    fi
    if [ "${13}" != - ] && [ "$(inode "$p")" != "${13}" ]; then
        say "fail cas $p is no longer the file the plan was made from (inode $(inode "$p"), planned ${13})"; return 1
    fi
}

# note_tightened ENTRY: a directory this run makes root's alone (owner root, no group or other write).
note_tightened() {
    [ "$2" = meta ] && [ -d "$1" ] && [ ! -L "$1" ] && [ "$7" = root ] && [ $(( 0$9 & 022 )) = 0 ] \
        && tightened="$tightened$1
"
    return 0
}

backup() {
    { [ "$3" = absent ] || [ "$3" = - ]; } && return 0
    cp -p -- "$1" "$rundir/files/${12}" && sync -- "$rundir/files/${12}" || { say "fail backup cannot copy $1"; return 1; }
    [ "$(sha "$rundir/files/${12}")" = "$3" ] || { say "fail backup the copy of $1 does not match"; return 1; }
}

mkparent() {  # create missing parent directories (0755 root), remembered so a rollback removes them
    dir=$(parent "$1")
    missing=
    while [ ! -d "$dir" ] && [ ! -L "$dir" ]; do missing="$dir
$missing"; dir=$(parent "$dir"); done
    printf '%s' "$missing" | while IFS= read -r d; do
        [ -n "$d" ] || continue
        mkdir -m 0755 -- "$d" || exit 1
        printf '%s\n' "$d" >>"$rundir/created-dirs"
    done
}

stage() {
    [ "$2" = write ] || return 0
    guard stage "$1" || return 1
    mkparent "$1" || { say "fail stage cannot create the directory of $1"; return 1; }
    t=$(newtemp "$1") || { say "fail stage cannot create a temp file next to $1"; return 1; }
    printf '%s' "$t" >"$rundir/staged/${12}"
    if [ "${10}" -gt 0 ]; then
        dd of="$t" bs="${10}" count=1 iflag=fullblock conv=notrunc status=none 2>"$rundir/dd.err" || {
            say "fail stage cannot write $t: $(small "$rundir/dd.err")"; rm -f -- "$t"; return 1; }
    fi
    chown -h -- "$7:$8" "$t" && chmod -- "$9" "$t" || { say "fail stage cannot set $7:$8 $9 on $t"; return 1; }
    inode "$t" >"$rundir/staged/${12}.inode"
    sync -- "$t" || { say "fail stage cannot fsync $t"; return 1; }
    [ "$(sha "$t")" = "${11}" ] || { say "fail stage $t does not hold the planned bytes (disk full?)"; return 1; }
}

unstage() {
    [ "$2" = write ] || return 0
    t=$(staged "$1" "${12}")
    # Only the temp file this run created for PATH, by the name it recorded, in PATH's own directory.
    case $t in "$(parent "$1")/.${1##*/}.remediate-"*) ;; *) return 0 ;; esac
    [ -f "$t" ] && [ ! -L "$t" ] || return 0
    rm -f -- "$t" && say "ok unstaged $t"
    return 0
}

prepare() {  # MANIFEST_LEN ENTRY... ; stdin: manifest JSON, then each write's bytes in order
    lock_held_by_us || die prepare "this run does not hold the lock" 75
    # A dropped connection cuts stdin short (the checksums catch it) or closes stdout: either way prepare
    # finishes, staged or cleaned up, rather than die halfway.
    trap '' HUP PIPE
    mark_busy
    mlen=$1; shift
    tightened="
"
    each note_tightened "$@"
    each cas "$@" || exit 1
    mkdir -p -- "$rundir/files" "$rundir/staged" && chmod 0700 -- "$rundir" || die backup "cannot create $rundir"
    printf 'preparing\n' >"$rundir/state"
    dd of="$rundir/manifest.json" bs="$mlen" count=1 iflag=fullblock status=none 2>/dev/null \
        && sync -- "$rundir/manifest.json" || { rm -rf -- "$rundir"; die backup "cannot write the manifest (disk full?)"; }
    each backup "$@" || { rm -rf -- "$rundir"; exit 1; }
    if ! each stage "$@"; then
        each unstage "$@"
        remove_created_dirs
        rm -rf -- "$rundir"
        exit 1
    fi
    pause_at staged
    printf 'prepared\n' >"$rundir/state"
    say "ok prepare $(( $# / 13 )) change(s) backed up and staged"
}

abort() {  # ENTRY... : drop the staged files of a prepared run that will not be committed
    lock_held_by_us || die abort "this run does not hold the lock" 75
    case $(small "$rundir/state" || echo none) in
    preparing|prepared|none) ;;
    *) die abort "run $run is $(small "$rundir/state"): only a run that was not committed can be aborted" ;;
    esac
    each unstage "$@"
    remove_created_dirs
    rm -rf -- "$rundir"
    say "ok abort staged files removed"
}

remove_created_dirs() {
    [ -f "$rundir/created-dirs" ] || return 0
    sort -r "$rundir/created-dirs" | while IFS= read -r d; do rmdir -- "$d" 2>/dev/null; done
    return 0
}

# --- commit ------------------------------------------------------------------------------------------
# staged_intact TEMP INDEX SHA: the temp file prepare staged is still the very file it wrote (same inode,
# no link, root's, the planned bytes): it may have sat in a directory that the commit tightened only now.
staged_intact() {
    [ -n "$1" ] && [ -f "$1" ] && [ ! -L "$1" ] && [ "$(inode "$1")" = "$(small "$rundir/staged/$2.inode")" ] \
        && [ "$(stat -c %u -- "$1")" = 0 ] && [ "$(sha "$1")" = "$3" ] && return 0
    say "fail commit the staged file ${1:-for entry $2} was changed or replaced since prepare"
    return 1
}

install_one() {
    case $2 in
    write)
        t=$(staged "$1" "${12}")
        guard commit "$1" && staged_intact "$t" "${12}" "${11}" && mv -fT -- "$t" "$1" \
            || { say "fail commit cannot rename into $1"; return 1; } ;;
    delete) guard commit "$1" - && rm -f -- "$1" || { say "fail commit cannot delete $1"; return 1; } ;;
    meta)
        guard commit "$1" "${13}" && chown -h -- "$7:$8" "$1" && chmod -- "$9" "$1" \
            || { say "fail commit cannot set $7:$8 $9 on $1"; return 1; } ;;
    esac
    sync -- "$(parent "$1")" 2>/dev/null
    pause_at renamed-first
    return 0
}

restore_one() {
    p=$1 op=$2 bsha=$3
    if [ "$op" = meta ] && [ -d "$p" ] && [ ! -L "$p" ]; then
        [ "$dirs_pass" = yes ] || return 0
    else
        [ "$dirs_pass" = no ] || return 0
    fi
    # Already as it was (the commit stopped before this entry): nothing to put back, even where it could not be.
    if [ "$op" != meta ] && [ "$bsha" != absent ] && [ -f "$p" ] && [ ! -L "$p" ] && [ "$(sha "$p")" = "$bsha" ] \
        && [ "$(meta "$p")" = "$4 $5 $6" ]; then
        return 0
    fi
    case $op in
    meta)
        [ -e "$p" ] || [ -L "$p" ] || return 0
        [ ! -L "$p" ] && [ "$(meta "$p")" = "$4 $5 $6" ] && return 0
        guard restore "$p" "${13}" || return 1
        chown -h -- "$5:$6" "$p" && chmod -- "$4" "$p" || { say "fail restore cannot set $5:$6 $4 on $p"; return 1; } ;;
    *)
        guard restore "$p" || return 1
        if [ "$bsha" = absent ]; then rm -f -- "$p"; return 0; fi
        t=$(newtemp "$p") || { say "fail restore cannot create a temp file next to $p"; return 1; }
        cp -p -- "$rundir/files/${12}" "$t" && sync -- "$t" && mv -fT -- "$t" "$p" || {
            rm -f -- "$t"; say "fail restore cannot put back $p"; return 1; }
        [ "$(sha "$p")" = "$bsha" ] || { say "fail restore $p does not hold its old bytes"; return 1; } ;;
    esac
    sync -- "$(parent "$p")" 2>/dev/null
    return 0
}

docker_state() { systemctl is-active docker.service 2>/dev/null; }

journal_error() {
    journalctl -u docker.service -n 40 --no-pager -o cat 2>/dev/null \
        | grep -iE 'failed to start daemon|unable to|invalid|error|conflict|refus' | tail -n 1
}

# wait_active SECONDS: docker.service active and the API answering, or fail with dockerd's own words.
wait_active() {
    deadline=$(( $(date +%s) + $1 ))
    while :; do
        state=$(docker_state)
        if [ "$state" = active ] && timeout 10 docker version >/dev/null 2>&1; then return 0; fi
        if [ "$state" = failed ] || [ "$(date +%s)" -ge "$deadline" ]; then
            if [ "$state" = active ]; then
                say "fail start docker.service is active but its API did not answer within $1s: $(journal_error)"
            else
                say "fail start docker.service is $state: $(journal_error)"
            fi
            return 1
        fi
        sleep 0.3
    done
}

# wait_settled SECONDS: until docker.service is no longer starting, stopping or waiting to restart (a unit
# with Restart= retries a failing dockerd a few times before it stays failed).
wait_settled() {
    deadline=$(( $(date +%s) + $1 ))
    while :; do
        case $(docker_state) in activating|deactivating|reloading) ;; *) return 0 ;; esac
        [ "$(date +%s)" -lt "$deadline" ] || return 0
        sleep 0.3
    done
}

wait_live_restore() {
    deadline=$(( $(date +%s) + $1 ))
    while [ "$(timeout 10 docker info --format '{{.LiveRestoreEnabled}}' 2>/dev/null)" != true ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { say "fail reload live-restore did not become active after SIGHUP"; return 1; }
        sleep 0.3
    done
}

# run_actions WAIT ACTIONS: ACTIONS is a comma list of reset-failed, daemon-reload, reload-docker,
# reload-live-restore, add-remap-user:USER, save-images:IMAGE+IMAGE (or *), restart-docker:UNIT+UNIT, load-images,
# load-audit-rules.
run_actions() {
    wait=$1
    old_ifs=$IFS; IFS=,
    # split at commas only: no pathname expansion (save-images:* is an action, not a glob)
    set -f
    # shellcheck disable=SC2086
    set -- $2
    set +f
    IFS=$old_ifs
    for action in "$@"; do
        case $action in
        reset-failed) systemctl reset-failed docker.service docker.socket 2>/dev/null ;;
        daemon-reload) systemctl daemon-reload || { say "fail daemon-reload systemctl daemon-reload failed"; return 1; } ;;
        reload-docker|reload-live-restore)
            timeout "$wait" systemctl reload docker.service || { say "fail reload dockerd did not take SIGHUP: $(journal_error)"; return 1; }
            [ "$action" = reload-docker ] || wait_live_restore "$wait" || return 1
            wait_active "$wait" || return 1 ;;
        restart-docker:*)
            units=$(printf '%s' "${action#restart-docker:}" | tr '+' ' ')
            systemctl reset-failed docker.service 2>/dev/null
            # shellcheck disable=SC2086
            timeout "$wait" systemctl restart $units || { say "fail restart systemctl restart $units failed: $(journal_error)"; return 1; }
            wait_active "$wait" || return 1 ;;
        add-remap-user:*)  # userns-remap's user, added by us (not by dockerd as it starts), removed by a restore
            user=${action#add-remap-user:}
            case $user in ''|-*|*[!a-z0-9_-]*) say "fail user bad user name $user"; return 1 ;; esac
            if ! getent passwd "$user" >/dev/null; then
                useradd --system --no-create-home --home-dir /nonexistent --shell /bin/false --user-group "$user" \
                    >/dev/null 2>&1 || { say "fail user cannot add the system user $user"; return 1; }
                printf '%s\n' "$user" >"$rundir/created-user"
            fi ;;
        save-images:*)  # before a restart that moves the image store (userns-remap): IMAGE+IMAGE, or * for all
            list=${action#save-images:}
            set -f
            if [ "$list" = '*' ]; then
                images=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>')
            else
                images=$(printf '%s\n' "$list" | tr '+' '\n')
            fi
            found=
            for image in $images; do docker image inspect -- "$image" >/dev/null 2>&1 && found="$found $image"; done
            if [ -n "$found" ]; then
                # shellcheck disable=SC2086
                timeout $(( wait * 20 )) docker save -o "$rundir/images.tar" $found \
                    || { set +f; say "fail images cannot save$found before the restart"; return 1; }
            fi
            set +f ;;
        load-images)
            if [ -f "$rundir/images.tar" ]; then
                timeout $(( wait * 20 )) docker load -q -i "$rundir/images.tar" >/dev/null \
                    || { say "fail images cannot load the saved images into the new image store"; return 1; }
                rm -f -- "$rundir/images.tar"
            fi ;;
        load-audit-rules)
            if command -v augenrules >/dev/null 2>&1 && systemctl is-active --quiet auditd 2>/dev/null; then
                augenrules --load >/dev/null 2>&1 || { say "fail audit augenrules --load failed"; return 1; }
            fi ;;
        '') ;;
        *) say "fail actions unknown action $action"; return 1 ;;
        esac
        say "ok action $action"
    done
}

# restore_all WAIT BEFORE ENTRY...: put every file back, reload systemd, bring dockerd back as it was:
# BEFORE active (restart, wait until it answers), failed (restart: it fails again, as it did), else stopped.
restore_all() {
    wait=$1 before=$2; shift 2
    restored=0
    # Files first, then directories: a directory the run tightened is loosened again only once nothing
    # is left to put back inside it (root acts only in directories that are root's alone).
    dirs_pass=no
    every restore_one "$@" || restored=1
    dirs_pass=yes
    every restore_one "$@" || restored=1
    remove_created_dirs
    systemctl daemon-reload
    systemctl reset-failed docker.service docker.socket 2>/dev/null
    case $before in
    active)
        timeout "$wait" systemctl restart docker.socket docker.service 2>/dev/null || timeout "$wait" systemctl restart docker.service
        wait_active "$wait" || return 1 ;;
    failed)
        timeout "$wait" systemctl restart docker.socket docker.service >/dev/null 2>&1
        wait_settled "$wait"
        say "ok restore dockerd restarted with its old configuration: $(docker_state) (it was failed before)" ;;
    *)
        systemctl stop docker.service 2>/dev/null ;;
    esac
    remove_created_user || restored=1
    return $restored
}

# remove_created_user: the remap user this run added (add-remap-user), once dockerd no longer uses it.
remove_created_user() {
    created=$(small "$rundir/created-user") || return 0
    case $created in ''|-*|*[!a-z0-9_-]*) return 0 ;; esac
    if getent passwd "$created" >/dev/null; then
        userdel "$created" >/dev/null 2>&1 || { say "fail restore cannot remove the user $created this run added"; return 1; }
    fi
    rm -f -- "$rundir/created-user"
}

commit() {  # WAIT ACTIONS BEFORE ENTRY... (BEFORE: dockerd's state before, for a rollback)
    lock_held_by_us || die commit "this run does not hold the lock" 75
    [ "$(small "$rundir/state")" = prepared ] || die commit "run $run is not prepared"
    wait=$1 actions=$2 before=$3; shift 3
    trap '' HUP PIPE
    mark_busy
    log=$rundir/log
    printf 'committing\n' >"$rundir/state"
    if each install_one "$@" && printf 'committed\n' >"$rundir/state" && pause_at renamed \
        && run_actions "$wait" "$actions"; then
        printf 'applied\n' >"$rundir/state"
        say "ok commit applied"
        return 0
    fi
    say "ok rollback starting: restoring the backups of run $run"
    each unstage "$@"
    if restore_all "$wait" "$before" "$@"; then
        printf 'rolled-back\n' >"$rundir/state"
        say "state rolled-back"
    else
        printf 'rollback-failed\n' >"$rundir/state"
        say "state rollback-failed"
    fi
    exit 1
}

restore() {  # WAIT BEFORE NEW_STATE FROM_RUN ENTRY...: put FROM_RUN's backups back (verification failed,
             # or invoke rollback); FROM_RUN's state becomes NEW_STATE.
    lock_held_by_us || die restore "this run does not hold the lock" 75
    case $4 in ''|.|..|*/*) die restore "bad run id" 2 ;; esac
    wait=$1 before=$2 new_state=$3 rundir=$base/runs/$4; shift 4
    trap '' HUP PIPE
    mark_busy
    [ -d "$rundir" ] && log=$rundir/log
    [ -d "$rundir/files" ] || die restore "no backups of run $(basename -- "$rundir") on this host"
    if restore_all "$wait" "$before" "$@"; then
        printf '%s\n' "$new_state" >"$rundir/state"
        say "state $new_state"
    else
        printf 'rollback-failed\n' >"$rundir/state"
        say "state rollback-failed"
        exit 1
    fi
}

check() {  # ENTRY...: compare-and-swap only (rollback checks that nobody changed the files since the run)
    each cas "$@" || exit 1
    say "ok check unchanged since the run"
}

finish() {  # STATE KEEP: record the run's end, keep the KEEP newest runs' backups, release the lock
    [ -d "$rundir" ] && printf '%s\n' "$1" >"$rundir/state"
    ls -1 -- "$base/runs" 2>/dev/null | sort -r | tail -n +"$(( $2 + 1 ))" | while IFS= read -r old; do
        [ "$old" = "$run" ] || rm -rf -- "$base/runs/$old"
    done
    unlock
}

runs() {  # list runs, newest first (run ids start with their UTC time): "run ID STATE"
    ls -1 -- "$base/runs" 2>/dev/null | sort -r | while IFS= read -r r; do
        say "run $r $(small "$base/runs/$r/state" || echo unknown)"
    done
}

# manifest: the run's manifest, which a controller parses: a regular file of at most MANIFEST_MAX bytes.
MANIFEST_MAX=4194304
manifest() {
    m=$rundir/manifest.json
    [ -f "$m" ] && [ ! -L "$m" ] || die manifest "no manifest for run $run"
    size=$(stat -c %s -- "$m")
    [ "$size" -le "$MANIFEST_MAX" ] || die manifest "the manifest of run $run is $size bytes, over $MANIFEST_MAX"
    head -c "$MANIFEST_MAX" -- "$m"
}

# unwritable PATH: why root cannot change PATH where it is (immutable or append-only flag, read-only
# filesystem), or nothing. A file is replaced by rename, so its directory counts too; a path not yet there
# is created in its nearest existing ancestor.
unwritable() {
    if [ -d "$1" ] || [ -S "$1" ]; then
        set -- "$1"
    else
        d=$(dirname -- "$1")
        while [ ! -e "$d" ]; do d=$(dirname -- "$d"); done
        if [ -e "$1" ] || [ -L "$1" ]; then set -- "$1" "$d"; else set -- "$d"; fi
    fi
    for p in "$@"; do
        case $(lsattr -d -- "$p" 2>/dev/null | cut -d' ' -f1) in
        *i*) echo "$p is immutable (chattr +i): clear the flag (chattr -i) to let harden change it"; return ;;
        *a*) echo "$p is append-only (chattr +a): clear the flag (chattr -a) to let harden change it"; return ;;
        esac
        [ -w "$p" ] || { echo "$p is not writable (a read-only filesystem?)"; return; }
    done
}

# --- validate: candidate files in a private temp dir, nothing left behind ----------------------------
# CHECK... : exists PATH | executable PATH | user NAME | group NAME | tightened DIR | writable PATH (root can
# change it, and safely: see unsafe), and last, optionally,
# dockerd-validate LEN ARGV... (stdin: LEN bytes of the candidate daemon.json; ARGV: dockerd --validate
# with the service's flags, --config-file is appended).
validate() {
    vd=$(mktemp -d) || die validate "no temp directory"
    trap 'rm -rf -- "$vd"' EXIT
    bad=0
    while [ $# -gt 0 ]; do
        case $1 in
        exists)
            if [ -e "$2" ]; then say "ok exists $2"; else say "fail exists $2 does not exist"; bad=1; fi ;;
        executable)
            if [ -f "$2" ] && [ -x "$2" ]; then say "ok executable $2"; else say "fail executable $2 is not an executable file"; bad=1; fi ;;
        user)
            if getent passwd "$2" >/dev/null; then say "ok user $2"; else say "fail user no user $2 on this host"; bad=1; fi ;;
        group)
            if getent group "$2" >/dev/null; then say "ok group $2"; else say "fail group no group $2 on this host"; bad=1; fi ;;
        tightened)  # a directory the plan makes root's alone first: its files count as safe (see unsafe_dir)
            tightened="${tightened:-
}$2
" ;;
        writable)
            why=$(unwritable "$2")
            [ -n "$why" ] || why=$(unsafe "$2")
            if [ -z "$why" ]; then say "ok writable $2"; else say "fail writable $why"; bad=1; fi ;;
        dockerd-validate)
            dd of="$vd/daemon.json" bs="$2" count=1 iflag=fullblock status=none 2>/dev/null || die dockerd-validate "cannot stage daemon.json"
            shift 2
            if out=$(timeout 60 "$@" --config-file "$vd/daemon.json" 2>&1); then
                say "ok dockerd-validate $out"
            else
                say "fail dockerd-validate $out"; bad=1
            fi
            break ;;
        *) die validate "unknown check $1" ;;
        esac
        shift 2
    done
    exit "$bad"
}

case $cmd in
lock) lock "$@" ;;
unlock) unlock ;;
lock-info) lock_info ;;
break-lock) break_lock "$@" ;;
prepare) prepare "$@" ;;
abort) abort "$@" ;;
commit) commit "$@" ;;
restore) restore "$@" ;;
check) check "$@" ;;
finish) finish "$@" ;;
runs) runs ;;
manifest) manifest ;;
validate) validate "$@" ;;
*) die usage "unknown command $cmd" 2 ;;
esac
