#include "workers/ipfix/information_model.hpp"

#include <fixbuf/public.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

namespace d4::workers::ipfix {
namespace {

// Names become JSON keys written without escaping: only plain identifiers are kept (every IANA
// and CERT name is one); anything else is treated as an unknown element.
bool plain_name(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  std::string_view s(name);
  return s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
         });
}

DataType data_type_of(std::uint8_t t) {
  return t <= static_cast<std::uint8_t>(DataType::SubTemplateMultiList) ? static_cast<DataType>(t)
                                                                        : DataType::OctetArray;
}

}  // namespace

std::shared_ptr<const InformationModel> InformationModel::load(const std::vector<std::string>& registry_files,
                                                               std::vector<std::string>& warnings) {
  fbInfoModel_t* model = fbInfoModelAlloc();
  for (const auto& file : registry_files) {
    GError* err = nullptr;
    if (!fbInfoModelReadXMLFile(model, file.c_str(), &err)) {
      warnings.push_back("IPFIX registry " + file + " not loaded: " + (err ? err->message : "unknown error"));
      if (err) g_clear_error(&err);
    }
  }
  auto out = std::make_shared<InformationModel>();
  fbInfoModelIter_t iter;
  fbInfoModelIterInit(&iter, model);
  while (const fbInfoElement_t* e = fbInfoModelIterNext(&iter)) {
    if (!plain_name(e->ref.name)) continue;
    // "Reserved"/"Unassigned" rows of the registry files are ranges, not elements.
    std::string_view name(e->ref.name);
    if (name == "Reserved" || name == "Unassigned") continue;
    out->elements_.emplace(key(e->ent, e->num), ElementInfo{std::string(name), data_type_of(e->type)});
  }
  fbInfoModelFree(model);
  return out;
}

const std::vector<std::string>& InformationModel::default_registry_files() {
  static const std::vector<std::string> files{"/usr/share/libfixbuf/cert_ipfix.xml"};
  return files;
}

std::shared_ptr<const InformationModel> InformationModel::standard() {
  static std::once_flag once;
  static std::shared_ptr<const InformationModel> model;
  std::call_once(once, [] {
    std::vector<std::string> files, warnings;
    for (const auto& f : default_registry_files())
      if (std::filesystem::exists(f)) files.push_back(f);
    model = load(files, warnings);
  });
  return model;
}

}  // namespace d4::workers::ipfix
