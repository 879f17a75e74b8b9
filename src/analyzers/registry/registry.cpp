#include "analyzers/registry/descriptor.hpp"

namespace d4::analyzers {

// The registration list: one line per analyzer, naming the entry function that its folder's
// stack_entry.cpp defines (AnalyzerDescriptor stack_entry_<name>()).
#define D4_ANALYZERS(X) \
  X(pdns)               \
  X(pibs)               \
  X(passivessl)

#define D4_DECLARE_ENTRY(name) AnalyzerDescriptor stack_entry_##name();
D4_ANALYZERS(D4_DECLARE_ENTRY)
#undef D4_DECLARE_ENTRY

const std::vector<AnalyzerDescriptor>& analyzer_descriptors() {
#define D4_CALL_ENTRY(name) stack_entry_##name(),
  static const std::vector<AnalyzerDescriptor> all = {D4_ANALYZERS(D4_CALL_ENTRY)};
#undef D4_CALL_ENTRY
  return all;
}

const AnalyzerDescriptor* find_analyzer(std::string_view name) {
  for (const auto& a : analyzer_descriptors())
    if (a.name == name) return &a;
  return nullptr;
}

std::string analyzer_names() {
  std::string out;
  for (const auto& a : analyzer_descriptors()) out += (out.empty() ? "" : ", ") + a.name;
  return out;
}

}  // namespace d4::analyzers
