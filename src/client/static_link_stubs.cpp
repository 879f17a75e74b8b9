// Linked into the fully static client only (D4_STATIC_CLIENT). Debian's static libpcap pulls in
// its D-Bus capture module and with it libdbus-1.a, which refers to two libsystemd functions
// used only by D-Bus servers started through systemd socket activation. Debian ships no static
// libsystemd; these stand-ins answer as libsystemd does in a process that was not socket-
// activated, which the client never is.
#include <cerrno>

extern "C" {

// No file descriptors were passed by the service manager.
int sd_listen_fds(int /*unset_environment*/) {
  return 0;
}

// Never reached (sd_listen_fds gave no descriptor to check).
int sd_is_socket(int /*fd*/, int /*family*/, int /*type*/, int /*listening*/) {
  return -ENOSYS;
}
}
