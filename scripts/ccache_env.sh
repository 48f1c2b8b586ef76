# Sourced by scripts/build.sh and scripts/test.sh (with $root set to the clone): sets `launcher`
# to the CMake option that compiles through ccache where it is installed (scripts/setup.sh
# installs it), else to nothing. Paths are hashed relative to the clone, so a fresh clone
# elsewhere on this machine (CI's) reuses the objects of this one.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
fi
