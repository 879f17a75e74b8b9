// maltrail: each line is queued as is; no raw archive (reference behaviour).
#include "workers/extended/extended_type.hpp"

namespace d4::workers {
namespace {

class MaltrailHandler : public ExtendedTypeHandler {
 public:
  explicit MaltrailHandler(const nlohmann::json&) {}
  void on_record(std::string_view record, ExtendedContext& ctx) override { ctx.push(record); }
};

}  // namespace
}  // namespace d4::workers

D4_REGISTER_EXTENDED_TYPE("maltrail", d4::workers::MaltrailHandler)
