// protocol/resp_writer.hpp: the bytes of RESP requests (binary-safe bulk strings, numbers) and the
// count of commands written.
#include "protocol/resp_writer.hpp"

#include <gtest/gtest.h>

using d4::protocol::RespWriter;

TEST(RespWriter, WritesArraysOfBulkStringsBinarySafe) {
  std::string out;
  std::string bin("x\0y\r\n", 5);
  RespWriter(out)
      .begin(4)
      .arg("XADD")
      .arg(std::string_view(bin))
      .arg(std::uint64_t{1234567890123})
      .arg_int(-5);
  EXPECT_EQ(out,
            std::string("*4\r\n$4\r\nXADD\r\n$5\r\nx\0y\r\n\r\n$13\r\n1234567890123\r\n$2\r\n-5\r\n", 53));
  std::string zero;
  RespWriter(zero).arg(std::uint64_t{0});
  EXPECT_EQ(zero, "$1\r\n0\r\n");
}

TEST(RespWriter, CountsTheCommandsItWrote) {
  std::string out;
  RespWriter w(out);
  EXPECT_EQ(w.commands(), 0u);
  w.command({"PING"}).command(std::vector<std::string>{"GET", "k"});
  w.begin(2).arg("SELECT").arg(std::uint64_t{3});
  EXPECT_EQ(w.commands(), 3u);
  EXPECT_EQ(out, "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n");
}
