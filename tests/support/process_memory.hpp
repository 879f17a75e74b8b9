#pragma once
// A process's resident memory, for tests that bound what outside input may cost. Under
// AddressSanitizer the figure says nothing about the program: freed blocks wait in ASan's
// quarantine (256 MB by default) and shadow memory grows with every allocation, so such tests keep
// their functional checks there and assert memory only where it means something (the release run).
#include <sys/types.h>

#include <fstream>
#include <string>

namespace d4::test {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssReflectsTheHeap = false;
#else
inline constexpr bool kRssReflectsTheHeap = true;
#endif

// VmRSS of `pid` in kB, -1 when unreadable.
inline long rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

}  // namespace d4::test
