# Sourced by scripts/run.sh and scripts/test.sh (bash) and scripts/docker-entrypoint.sh (POSIX sh).
# blank_unset NAME...: unset each named variable whose value is only blanks (POSIX [:space:], mlmonitor.environment's
# BLANKS). A blank value counts as unset everywhere, as mlmonitor/environment.py reads it in Python: `SECRET_KEY=' '`
# must not pass the scripts' "is it set" tests (`[ -z "${SECRET_KEY:-}" ]`) or replace their defaults
# (`${WEB_WORKERS:-2}`) when Python would then ignore it.
blank_unset() {
  for blank_name in "$@"; do
    eval "blank_value=\${$blank_name-}"
    case $blank_value in
      '' | *[![:space:]]*) ;;
      *) unset "$blank_name" ;;
    esac
  done
  unset blank_name blank_value
}
