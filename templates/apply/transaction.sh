# remediate's apply transaction, run on the target as root (POSIX sh with `local`, as dash, bash and busybox
# ash have it; coreutils, systemd; no Python).
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
# An ENTRY (one path of the run) is 13 arguments NAME=VALUE, in the order of protocol.Record
# (remediate/apply/protocol.py); read_entry gives them to each step as locals of the same names. A value is the
# rest of its argument after the first "=", so any byte a path can hold passes unchanged.
#   path:         the file or directory
#   op:           write (new content), delete, or meta (chown/chmod only)
#   before_sha:   sha256 of the content found, "absent", or "-" (no content check: not a regular file, or a
#                 metadata-only change of a file whose bytes remediate never reads, such as a TLS key)
#   before_mode, before_owner, before_group: as found ("-" when absent; mode as `stat -c %a` prints it)
#   owner, group, mode: as wanted
#   length, sha:  a write's content: length bytes on stdin (prepare), sha256 sha; 0 and "-" otherwise
#   index:        the entry's number, naming its backup copy files/INDEX
#   inode:        DEV:INO of the path as the plan found it ("-": not known, or not stable, like a socket a
#                 daemon recreates)
#
# Root never acts through a link a user could plant: before every write, rename, delete, chown, chmod and
# restore the script checks that every directory on the way to the path (as written and as resolved) is
# root's alone, that a path changed in place is not a symlink and is still the inode the plan was made from,
# and it changes owners with `chown -h`. Temp files get unpredictable names from mktemp (O_EXCL, 0600).

set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
LC_ALL=C; export LC_ALL
umask 077

# The run-wide values, set here once (a restore points rundir at the run it restores, prepare and validate
# fill tightened, a commit or restore sets log); every other variable is a local of its function, or lives in
# the subshell of a pipeline.
pause=                   # the test hook's POINT (--pause=POINT), cleared once the run paused there
case ${1-} in --pause=*) pause=${1#--pause=}; shift ;; esac
cmd=$1                   # the command: lock, prepare, commit, restore, ... (the case at the end)
base=$2                  # remediate's root-only directory on this host: the lock and every run's records
run=$3                   # this run's id: the lock names it, its records are runs/RUN
shift 3
case $run in ''|.|..|*/*) printf 'fail usage bad run id\n'; exit 2 ;; esac
lockdir=$base/lock       # the lock: run (its run id), owner (who, which boot, since), busy (the pid at work)
rundir=$base/runs/$run   # a run's records: state, manifest.json, files/INDEX (backups), staged/INDEX, log
log=                     # the run's log once a commit or restore started: say writes there too
tightened=               # directories this run makes root's alone, one a line (unsafe_dir lets them through)
ENTRY_WORDS=13           # arguments per entry (read_entry)
MANIFEST_MAX=4194304     # the largest manifest a controller is sent (manifest)

# say LINE: one line for the controller, and in the run's log once a commit or restore started. It never
# fails: with the connection gone stdout is a broken pipe, and the run must go on as if it were heard.
say() {
    local line
    line=$(printf '%s' "$*" | tr '\n\r' '  ')
    printf '%s\n' "$line" 2>/dev/null
    [ -z "$log" ] || printf '%s\n' "$line" >>"$log"
    return 0
}
die() { say "fail $1 $2"; exit "${3:-1}"; }

# sha256_of FILE: from stdin, as sha256sum escapes a name holding a backslash or a newline (\HASH  NAME)
sha256_of() { sha256sum 2>/dev/null <"$1" | cut -d' ' -f1; }
meta_of() { stat -c '%a %U %G' -- "$1" 2>/dev/null; }
inode_of() { stat -c '%d:%i' -- "$1" 2>/dev/null; }
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
unsafe_dir() {
    local d="$1" r x
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
    local why
    why=$(unsafe_dir "$(parent "$1")")
    if [ -n "$why" ]; then printf '%s' "$why"; return; fi
    [ $# -ge 2 ] || return 0
    if [ -L "$1" ]; then printf '%s is a symlink: it would be followed' "$1"; return; fi
    if [ "$2" != - ] && [ -e "$1" ] && [ "$(inode_of "$1")" != "$2" ]; then
        printf '%s is no longer the file the plan was made from (inode %s, planned %s)' "$1" "$(inode_of "$1")" "$2"
    fi
}

# guard STEP PATH [INODE]: say why and fail when root must not act on PATH now (unsafe).
guard() {
    local why
    why=$(unsafe "$2" ${3+"$3"})
    [ -z "$why" ] || { say "fail $1 refused to touch $2: $why"; return 1; }
}

# staged INDEX: the temp file prepare staged for entry INDEX (its random name is kept in the run).
staged() { small "$rundir/staged/$1"; }

# newtemp PATH: a new empty 0600 temp file next to PATH, with a name nobody can guess (O_EXCL).
newtemp() { mktemp -- "$(parent "$1")/.${1##*/}.remediate-XXXXXXXXXX"; }

# --- entries -----------------------------------------------------------------------------------------
# field NAME ARG: ARG is NAME=VALUE; VALUE goes into the variable NAME (a local of each's), else fail.
field() {
    case $2 in
    "$1="*) eval "$1=\${2#*=}" ;;  # NAME is one of read_entry's literal names; the value is never parsed
    *) say "fail usage entry field $1 expected, got: $2"; return 1 ;;
    esac
}

# read_entry ARG...: the entry in the first ENTRY_WORDS arguments (see the header), checked by name.
read_entry() {
    [ $# -ge "$ENTRY_WORDS" ] || { say "fail usage an entry has $ENTRY_WORDS fields, $# left"; return 1; }
    field path "$1" && field op "$2" && field before_sha "$3" && field before_mode "$4" \
        && field before_owner "$5" && field before_group "$6" && field owner "$7" && field group "$8" \
        && field mode "$9" && field length "${10}" && field sha "${11}" && field index "${12}" \
        && field inode "${13}" || return 1
    # A path is absolute and one line: the run's own records (created-dirs, staged names) are lines.
    case $path in /*) ;; *) say "fail usage $path is not an absolute path"; return 1 ;; esac
    case $path in *"
"*) say "fail usage $path: a path with a newline is not supported"; return 1 ;; esac
    case $op in write|delete|meta) ;; *) say "fail usage bad op $op for $path"; return 1 ;; esac
    case $index$length in *[!0-9]*|'') say "fail usage bad index or length for $path"; return 1 ;; esac
    case $mode in -) ;; ''|*[!0-7]*) say "fail usage bad mode $mode for $path"; return 1 ;; esac
}

# each [--all] FN ENTRY...: FN once per entry, which FN reads from these locals (named as in the header);
# stops at the first failure, or with --all goes on past one (a restore puts back all it can) and fails
# at the end if any failed.
each() {
    local all=no fn failed=0
    local path op before_sha before_mode before_owner before_group owner group mode length sha index inode
    [ "$1" != --all ] || { all=yes; shift; }
    fn=$1; shift
    while [ $# -gt 0 ]; do
        read_entry "$@" || return 1
        shift "$ENTRY_WORDS"
        "$fn" && continue
        [ "$all" = yes ] || return 1
        failed=1
    done
    return "$failed"
}

pause_at() {  # POINT: the test hook (see the header), once per run; a no-op unless --pause=POINT
    local waited=0
    [ "$pause" = "$1" ] || return 0
    printf '%s\n' "$1" >"$rundir/paused"
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
lock() {  # OWNER: who takes it (one line)
    local why err
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
    local holder_run busy bpid bstart
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

break_lock() {  # RUN: the run id the caller saw holding it (refuse if it changed since)
    [ -d "$lockdir" ] || { say "ok unlock not locked"; return 0; }
    [ "$(lock_run)" = "$1" ] || die unlock "the lock changed hands (now $(lock_run))" 75
    rm -rf -- "$lockdir" && say "ok unlock broken"
}

# --- prepare: compare-and-swap, backups, staged temp files ------------------------------------------
# The steps below run once per entry, through each, and read the entry's fields as locals (see each).
cas() {
    guard unsafe "$path" || return 1
    if [ "$before_sha" = absent ]; then
        if [ -e "$path" ] || [ -L "$path" ]; then say "fail cas $path appeared since the plan was made"; return 1; fi
        return 0
    fi
    if [ ! -e "$path" ]; then say "fail cas $path disappeared since the plan was made"; return 1; fi
    if [ "$op" = meta ] && [ -L "$path" ]; then
        say "fail cas $path is now a symlink: chmod/chown would change what it points to"; return 1
    fi
    if [ "$before_sha" != - ]; then
        [ -f "$path" ] && [ ! -L "$path" ] || { say "fail cas $path is no longer a regular file"; return 1; }
        [ "$(sha256_of "$path")" = "$before_sha" ] || { say "fail cas $path changed since the plan was made (content)"; return 1; }
    fi
    if [ "$before_mode" != - ] && [ "$(meta_of "$path")" != "$before_mode $before_owner $before_group" ]; then
        say "fail cas $path changed since the plan was made (now $(meta_of "$path"), planned from $before_mode $before_owner $before_group)"
        return 1
    fi
    if [ "$inode" != - ] && [ "$(inode_of "$path")" != "$inode" ]; then
        say "fail cas $path is no longer the file the plan was made from (inode $(inode_of "$path"), planned $inode)"
        return 1
    fi
}

# note_tightened: a directory this run makes root's alone (owner root, no group or other write).
note_tightened() {
    [ "$op" = meta ] && [ -d "$path" ] && [ ! -L "$path" ] && [ "$owner" = root ] && [ $(( 0$mode & 022 )) = 0 ] \
        && tightened="$tightened$path
"
    return 0
}

backup() {
    local copy="$rundir/files/$index"
    { [ "$before_sha" = absent ] || [ "$before_sha" = - ]; } && return 0
    cp -p -- "$path" "$copy" && sync -- "$copy" || { say "fail backup cannot copy $path"; return 1; }
    [ "$(sha256_of "$copy")" = "$before_sha" ] || { say "fail backup the copy of $path does not match"; return 1; }
}

mkparent() {  # PATH: create its missing parent directories (0755 root), remembered so a rollback removes them
    local dir missing=
    dir=$(parent "$1")
    while [ ! -d "$dir" ] && [ ! -L "$dir" ]; do missing="$dir
$missing"; dir=$(parent "$dir"); done
    printf '%s' "$missing" | while IFS= read -r d; do
        [ -n "$d" ] || continue
        mkdir -m 0755 -- "$d" || exit 1
        printf '%s\n' "$d" >>"$rundir/created-dirs"
    done
}

stage() {
    local t
    [ "$op" = write ] || return 0
    guard stage "$path" || return 1
    mkparent "$path" || { say "fail stage cannot create the directory of $path"; return 1; }
    t=$(newtemp "$path") || { say "fail stage cannot create a temp file next to $path"; return 1; }
    printf '%s' "$t" >"$rundir/staged/$index"
    if [ "$length" -gt 0 ]; then
        dd of="$t" bs="$length" count=1 iflag=fullblock conv=notrunc status=none 2>"$rundir/dd.err" || {
            say "fail stage cannot write $t: $(small "$rundir/dd.err")"; rm -f -- "$t"; return 1; }
    fi
    chown -h -- "$owner:$group" "$t" && chmod -- "$mode" "$t" || { say "fail stage cannot set $owner:$group $mode on $t"; return 1; }
    inode_of "$t" >"$rundir/staged/$index.inode"
    sync -- "$t" || { say "fail stage cannot fsync $t"; return 1; }
    [ "$(sha256_of "$t")" = "$sha" ] || { say "fail stage $t does not hold the planned bytes (disk full?)"; return 1; }
}

unstage() {
    local t
    [ "$op" = write ] || return 0
    t=$(staged "$index")
    # Only the temp file this run created for PATH, by the name it recorded, in PATH's own directory.
    case $t in "$(parent "$path")/.${path##*/}.remediate-"*) ;; *) return 0 ;; esac
    [ -f "$t" ] && [ ! -L "$t" ] || return 0
    rm -f -- "$t" && say "ok unstaged $t"
    return 0
}

prepare() {  # MANIFEST_LEN ENTRY... ; stdin: manifest JSON, then each write's bytes in order
    local mlen="$1"
    shift
    lock_held_by_us || die prepare "this run does not hold the lock" 75
    # A dropped connection cuts stdin short (the checksums catch it) or closes stdout: either way prepare
    # finishes, staged or cleaned up, rather than die halfway.
    trap '' HUP PIPE
    mark_busy
    tightened="
"
    each note_tightened "$@" || exit 1
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
    say "ok prepare $(( $# / ENTRY_WORDS )) change(s) backed up and staged"
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
    [ -n "$1" ] && [ -f "$1" ] && [ ! -L "$1" ] && [ "$(inode_of "$1")" = "$(small "$rundir/staged/$2.inode")" ] \
        && [ "$(stat -c %u -- "$1")" = 0 ] && [ "$(sha256_of "$1")" = "$3" ] && return 0
    say "fail commit the staged file ${1:-for entry $2} was changed or replaced since prepare"
    return 1
}

install_one() {
    local t
    case $op in
    write)
        t=$(staged "$index")
        guard commit "$path" && staged_intact "$t" "$index" "$sha" && mv -fT -- "$t" "$path" \
            || { say "fail commit cannot rename into $path"; return 1; } ;;
    delete) guard commit "$path" - && rm -f -- "$path" || { say "fail commit cannot delete $path"; return 1; } ;;
    meta)
        guard commit "$path" "$inode" && chown -h -- "$owner:$group" "$path" && chmod -- "$mode" "$path" \
            || { say "fail commit cannot set $owner:$group $mode on $path"; return 1; } ;;
    esac
    sync -- "$(parent "$path")" 2>/dev/null
    pause_at renamed-first
    return 0
}

# restore_file, restore_dir: restore_one PASS for each's --all; files first, then directories (restore_all).
restore_file() { restore_one files; }
restore_dir() { restore_one dirs; }
restore_one() {  # PASS: files (every entry but a directory's chown/chmod), or dirs (those)
    local t
    if [ "$op" = meta ] && [ -d "$path" ] && [ ! -L "$path" ]; then
        [ "$1" = dirs ] || return 0
    else
        [ "$1" = files ] || return 0
    fi
    # Already as it was (the commit stopped before this entry): nothing to put back, even where it could not be.
    if [ "$op" != meta ] && [ "$before_sha" != absent ] && [ -f "$path" ] && [ ! -L "$path" ] \
        && [ "$(sha256_of "$path")" = "$before_sha" ] && [ "$(meta_of "$path")" = "$before_mode $before_owner $before_group" ]; then
        return 0
    fi
    case $op in
    meta)
        [ -e "$path" ] || [ -L "$path" ] || return 0
        [ ! -L "$path" ] && [ "$(meta_of "$path")" = "$before_mode $before_owner $before_group" ] && return 0
        guard restore "$path" "$inode" || return 1
        chown -h -- "$before_owner:$before_group" "$path" && chmod -- "$before_mode" "$path" \
            || { say "fail restore cannot set $before_owner:$before_group $before_mode on $path"; return 1; } ;;
    *)
        guard restore "$path" || return 1
        if [ "$before_sha" = absent ]; then rm -f -- "$path"; return 0; fi
        t=$(newtemp "$path") || { say "fail restore cannot create a temp file next to $path"; return 1; }
        cp -p -- "$rundir/files/$index" "$t" && sync -- "$t" && mv -fT -- "$t" "$path" || {
            rm -f -- "$t"; say "fail restore cannot put back $path"; return 1; }
        [ "$(sha256_of "$path")" = "$before_sha" ] || { say "fail restore $path does not hold its old bytes"; return 1; } ;;
    esac
    sync -- "$(parent "$path")" 2>/dev/null
    return 0
}

docker_state() { systemctl is-active docker.service 2>/dev/null; }

# journal_error: dockerd's own words for why it did not start: its "failed to start daemon" line, else the last
# line that names an error. dockerd logs `error="<nil>"` (no error) on the way down after the real one: skipped.
journal_error() {
    local lines
    lines=$(journalctl -u docker.service -n 40 --no-pager -o cat 2>/dev/null | grep -v 'error="<nil>"')
    printf '%s\n' "$lines" | grep -i 'failed to start daemon' | tail -n 1 | grep . \
        || printf '%s\n' "$lines" | grep -iE 'unable to|invalid|error|conflict|refus' | tail -n 1
}

# wait_active SECONDS: docker.service active and the API answering, or fail with dockerd's own words.
wait_active() {
    local deadline state
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
    local deadline
    deadline=$(( $(date +%s) + $1 ))
    while :; do
        case $(docker_state) in activating|deactivating|reloading) ;; *) return 0 ;; esac
        [ "$(date +%s)" -lt "$deadline" ] || return 0
        sleep 0.3
    done
}

wait_live_restore() {  # SECONDS
    local deadline
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
    local wait="$1" old_ifs="$IFS" action units user list images image found
    IFS=,
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
    local wait="$1" before="$2" restored=0
    shift 2
    # Files first, then directories: a directory the run tightened is loosened again only once nothing
    # is left to put back inside it (root acts only in directories that are root's alone).
    each --all restore_file "$@" || restored=1
    each --all restore_dir "$@" || restored=1
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
    return "$restored"
}

# remove_created_user: the remap user this run added (add-remap-user), once dockerd no longer uses it.
remove_created_user() {
    local created
    created=$(small "$rundir/created-user") || return 0
    case $created in ''|-*|*[!a-z0-9_-]*) return 0 ;; esac
    if getent passwd "$created" >/dev/null; then
        userdel "$created" >/dev/null 2>&1 || { say "fail restore cannot remove the user $created this run added"; return 1; }
    fi
    rm -f -- "$rundir/created-user"
}

commit() {  # WAIT ACTIONS BEFORE ENTRY... (BEFORE: dockerd's state before, for a rollback)
    local wait="$1" actions="$2" before="$3"
    shift 3
    lock_held_by_us || die commit "this run does not hold the lock" 75
    [ "$(small "$rundir/state")" = prepared ] || die commit "run $run is not prepared"
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
    local wait="$1" before="$2" new_state="$3"
    lock_held_by_us || die restore "this run does not hold the lock" 75
    case $4 in ''|.|..|*/*) die restore "bad run id" 2 ;; esac
    rundir=$base/runs/$4
    shift 4
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

# run_ids: the runs this host keeps, newest first (run ids start with their UTC time).
run_ids() {
    local r
    for r in "$base/runs"/*; do [ -d "$r" ] && printf '%s\n' "${r##*/}"; done | sort -r
}

finish() {  # STATE KEEP: record the run's end, keep the KEEP newest runs' backups, release the lock
    [ -d "$rundir" ] && printf '%s\n' "$1" >"$rundir/state"
    run_ids | tail -n +"$(( $2 + 1 ))" | while IFS= read -r old; do
        [ "$old" = "$run" ] || rm -rf -- "$base/runs/$old"
    done
    unlock
}

runs() {  # list runs, newest first: "run ID STATE"
    run_ids | while IFS= read -r r; do
        say "run $r $(small "$base/runs/$r/state" || echo unknown)"
    done
}

# manifest: the run's manifest, which a controller parses: a regular file of at most MANIFEST_MAX bytes.
manifest() {
    local m="$rundir/manifest.json" size
    [ -f "$m" ] && [ ! -L "$m" ] || die manifest "no manifest for run $run"
    size=$(stat -c %s -- "$m")
    [ "$size" -le "$MANIFEST_MAX" ] || die manifest "the manifest of run $run is $size bytes, over $MANIFEST_MAX"
    head -c "$MANIFEST_MAX" -- "$m"
}

# unwritable PATH: why root cannot change PATH where it is (immutable or append-only flag, read-only
# filesystem), or nothing. A file is replaced by rename, so its directory counts too; a path not yet there
# is created in its nearest existing ancestor.
unwritable() {
    local d p
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
    local vd bad=0 why out
    vd=$(mktemp -d) || die validate "no temp directory"
    trap 'rm -rf -- "$vd"' EXIT  # validate always ends in exit, with vd still in scope
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
