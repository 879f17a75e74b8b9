#pragma once
// Throwaway certificates for TLS tests (sensor links, d4-server, Redis over TLS). Header-only.
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>


namespace d4::test {

// A throwaway PKI made with the openssl command line: a CA, a server certificate for localhost and
// 127.0.0.1, a client certificate, and an unrelated second CA.
struct TestPki {
  std::string dir;
  std::string ca_crt, server_crt, server_key, client_crt, client_key, other_ca_crt;

  explicit TestPki(const std::string& d) : dir(d) {
    ca_crt = dir + "/ca.crt";
    server_crt = dir + "/server.crt";
    server_key = dir + "/server.key";
    client_crt = dir + "/client.crt";
    client_key = dir + "/client.key";
    other_ca_crt = dir + "/other-ca.crt";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    write(dir + "/server.ext",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage="
               "serverAuth\n");
    write(dir + "/client.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
    run("openssl req -x509" + ec + "-keyout " + dir + "/ca.key -out " + ca_crt +
        " -subj '/CN=D4 Test CA' -days 2 -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign");
    run("openssl req -x509" + ec + "-keyout " + dir + "/other-ca.key -out " + other_ca_crt +
        " -subj '/CN=Other CA' -days 2 -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign");
    run("openssl req" + ec + "-keyout " + server_key + " -out " + dir + "/server.csr -subj /CN=localhost");
    run("openssl x509 -req -in " + dir + "/server.csr -CA " + ca_crt + " -CAkey " + dir +
        "/ca.key -CAcreateserial -out " + server_crt + " -days 2 -extfile " + dir + "/server.ext");
    run("openssl req" + ec + "-keyout " + client_key + " -out " + dir + "/client.csr -subj /CN=sensor-1");
    run("openssl x509 -req -in " + dir + "/client.csr -CA " + ca_crt + " -CAkey " + dir +
        "/ca.key -CAcreateserial -out " + client_crt + " -days 2 -extfile " + dir + "/client.ext");
  }

 private:
  // Header-only (the client tests link no test support library).
  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static void run(const std::string& cmd) {
    if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
};

}  // namespace d4::test
