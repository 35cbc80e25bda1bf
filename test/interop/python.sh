# python.sh — pick the Python interpreter that has the modules a test
# imports (sourced, POSIX sh). A machine may put another python3 first on
# the PATH (pyenv, a venv) than Debian's /usr/bin/python3, which is where
# python3-kafka and python3-lz4 are installed.
#
# pick_python MODULE... sets $PY to the first of $PYTHON (when set),
# /usr/bin/python3 and every python3 on the PATH that imports all MODULEs,
# and returns 0; otherwise it sets $PY_WHY to a sentence for a skip message
# naming the modules and each interpreter tried, and returns 1.
pick_python() {
    PY_WHY=
    _tried=
    for _py in ${PYTHON:-} /usr/bin/python3 $(command -v -a python3 2>/dev/null || command -v python3); do
        case " $_tried " in *" $_py "*) continue ;; esac
        _tried="$_tried $_py"
        [ -x "$_py" ] || continue
        _stmt=
        for _m in "$@"; do _stmt="${_stmt}import $_m; "; done
        if "$_py" -c "$_stmt" >/dev/null 2>&1; then PY=$_py; return 0; fi
    done
    PY=${PYTHON:-/usr/bin/python3}
    PY_WHY="no Python interpreter imports $* (tried:$_tried); apt-get install python3-kafka python3-lz4"
    return 1
}
