# Cross-compiling the sensor client with Debian 12's cross toolchains (crossbuild-essential-<arch>).
# scripts/cross-client.sh sets everything up; by hand:
#   cmake -S . -B build-cross -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/debian-cross.cmake \
#         -DD4_CROSS_ARCH=arm64 -DD4_CROSS_SYSROOT=/path/to/sysroot -DD4_CLIENT_ONLY=ON
# D4_CROSS_ARCH is a Debian architecture name. D4_CROSS_SYSROOT holds the target's Debian packages
# (libssl-dev, libpcap0.8-dev, libgtest-dev, ... and their dependencies, libc included) extracted
# with dpkg-deb -x: libraries are found there, and qemu-user-static runs the tests with it as its
# root (-L), so nothing of the target architecture is installed on the build machine.
set(D4_CROSS_ARCH "" CACHE STRING "Debian architecture of the target (arm64, armhf, s390x, ...)")
set(D4_CROSS_SYSROOT "" CACHE PATH "Target packages extracted with dpkg-deb -x")
# try_compile() projects read this file again and need both values.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES D4_CROSS_ARCH D4_CROSS_SYSROOT)

# Debian architecture -> GNU triplet, CMAKE_SYSTEM_PROCESSOR, qemu-user name.
set(_d4_cross_table
    "arm64|aarch64-linux-gnu|aarch64|aarch64"
    "armhf|arm-linux-gnueabihf|arm|arm"
    "armel|arm-linux-gnueabi|arm|arm"
    "i386|i686-linux-gnu|i686|i386"
    "mipsel|mipsel-linux-gnu|mipsel|mipsel"
    "mips64el|mips64el-linux-gnuabi64|mips64el|mips64el"
    "ppc64el|powerpc64le-linux-gnu|ppc64le|ppc64le"
    "s390x|s390x-linux-gnu|s390x|s390x")
set(_d4_triplet "")
foreach(_row IN LISTS _d4_cross_table)
  string(REPLACE "|" ";" _fields "${_row}")
  list(GET _fields 0 _arch)
  if(_arch STREQUAL D4_CROSS_ARCH)
    list(GET _fields 1 _d4_triplet)
    list(GET _fields 2 CMAKE_SYSTEM_PROCESSOR)
    list(GET _fields 3 _d4_qemu)
  endif()
endforeach()
if(NOT _d4_triplet)
  message(FATAL_ERROR "D4_CROSS_ARCH='${D4_CROSS_ARCH}': one of arm64 armhf armel i386 mipsel mips64el ppc64el s390x")
endif()
if(NOT IS_DIRECTORY "${D4_CROSS_SYSROOT}/usr/lib/${_d4_triplet}")
  message(FATAL_ERROR "D4_CROSS_SYSROOT='${D4_CROSS_SYSROOT}' has no usr/lib/${_d4_triplet} (see scripts/cross-client.sh)")
endif()

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${_d4_triplet}-gcc)
set(CMAKE_CXX_COMPILER ${_d4_triplet}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${_d4_triplet})

# Libraries and headers: the toolchain's own (libc, libstdc++) and the extracted packages.
set(CMAKE_FIND_ROOT_PATH /usr/${_d4_triplet} ${D4_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Multiarch headers (openssl/configuration.h) live in usr/include/<triplet>; shared libraries
# pull in their own dependencies (libpcap -> libdbus -> libsystemd ...) from the sysroot.
set(CMAKE_C_FLAGS_INIT "-isystem ${D4_CROSS_SYSROOT}/usr/include/${_d4_triplet}")
set(CMAKE_CXX_FLAGS_INIT "-isystem ${D4_CROSS_SYSROOT}/usr/include/${_d4_triplet}")
set(_d4_rpath_link
    "-Wl,-rpath-link,${D4_CROSS_SYSROOT}/lib/${_d4_triplet}:${D4_CROSS_SYSROOT}/usr/lib/${_d4_triplet}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_d4_rpath_link}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_d4_rpath_link}")

# pkg-config reads the target's .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "${D4_CROSS_SYSROOT}/usr/lib/${_d4_triplet}/pkgconfig:${D4_CROSS_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${D4_CROSS_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

# Test programs run under qemu-user (binfmt_misc need not be registered): CTest and
# gtest_discover_tests prefix them with this; tests that start the client pass it on
# (D4_TARGET_LAUNCHER, tests/client/CMakeLists.txt).
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-${_d4_qemu}-static;-L;${D4_CROSS_SYSROOT}")
