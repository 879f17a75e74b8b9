#include "protocol/resp_writer.hpp"

#include <charconv>

namespace d4::protocol {

RespWriter& RespWriter::begin(std::size_t nargs) {
  out_ += '*';
  number(nargs);
  out_ += "\r\n";
  ++commands_;
  return *this;
}

RespWriter& RespWriter::arg(std::string_view a) {
  out_ += '$';
  number(a.size());
  out_ += "\r\n";
  out_.append(a.data(), a.size());
  out_ += "\r\n";
  return *this;
}

RespWriter& RespWriter::arg(std::uint64_t v) {
  char tmp[20];  // 2^64 - 1 has 20 digits
  auto end = std::to_chars(tmp, tmp + sizeof tmp, v).ptr;
  return arg(std::string_view(tmp, static_cast<std::size_t>(end - tmp)));
}

RespWriter& RespWriter::arg_int(long long v) {
  if (v >= 0) return arg(static_cast<std::uint64_t>(v));
  return arg(std::to_string(v));
}

RespWriter& RespWriter::command(std::initializer_list<std::string_view> args) {
  begin(args.size());
  for (auto a : args) arg(a);
  return *this;
}

RespWriter& RespWriter::command(const std::vector<std::string>& args) {
  begin(args.size());
  for (const auto& a : args) arg(a);
  return *this;
}

void RespWriter::number(std::uint64_t v) {
  char tmp[20];
  auto end = std::to_chars(tmp, tmp + sizeof tmp, v).ptr;
  out_.append(tmp, static_cast<std::size_t>(end - tmp));
}

}  // namespace d4::protocol
