# Sourced by the scripts, and by hand (`. scripts/env.sh`): lets Open MPI run as root (CI
# machines) and with more ranks than cores, and puts build/src on PATH, so that the docs'
# `custseg ...` commands work as written.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
cs_env_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ":$PATH:" in
  *":$cs_env_root/build/src:"*) ;;
  *) export PATH="$cs_env_root/build/src:$PATH" ;;
esac
unset cs_env_root
