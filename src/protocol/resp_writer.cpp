#include "protocol/resp_writer.hpp"

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
  char tmp[24];
  char* end = tmp + sizeof tmp;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  return arg(std::string_view(p, static_cast<std::size_t>(end - p)));
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
  char tmp[24];
  char* end = tmp + sizeof tmp;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  out_.append(p, static_cast<std::size_t>(end - p));
}

}  // namespace d4::protocol
