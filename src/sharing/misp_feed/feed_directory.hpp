#pragma once
// One organisation's MISP feed directory, as MISP pulls it: <event uuid>.json per event,
// manifest.json (event uuid -> the event's summary; MISP reads it first to decide which events to
// fetch) and hashes.csv ("<md5 of an attribute value>,<event uuid>" per line, MISP's quick lookup
// of a feed's values).
//
// Incremental: events written by earlier runs stay in the directory and in the manifest; an event
// exported again is compared with its file and rewritten only if something changed (its
// timestamps then increase, so MISP updates it; otherwise it keeps them and MISP skips it). Every
// file is replaced atomically (written beside it, then renamed), events first and the manifest
// last, so a MISP instance pulling during a run sees either the old or the new feed, never a
// manifest naming an event that is not there yet. One run at a time per directory (a lock file,
// .lock, which the web route does not serve).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sharing/misp_feed/event.hpp"

namespace d4::sharing::misp {

class FeedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class FeedDirectory {
 public:
  // Creates the directory if needed and takes its lock; throws FeedError when another run holds it
  // or the directory cannot be used. A manifest or hashes.csv that cannot be parsed is an error
  // too (never silently replaced: it would drop the events it lists).
  explicit FeedDirectory(std::filesystem::path dir);
  ~FeedDirectory();
  FeedDirectory(const FeedDirectory&) = delete;
  FeedDirectory& operator=(const FeedDirectory&) = delete;

  // What an earlier run wrote for this event, if anything.
  std::optional<PreviousEvent> previous(const std::string& event_uuid) const;

  enum class Outcome { Written, Unchanged };
  // Stamps the event against its earlier file (`previous`, from previous(); see stamp()) and
  // writes it if it changed; its manifest entry and hashes are updated either way. Throws
  // FeedError on I/O errors.
  Outcome put(MispEvent& event, std::int64_t now, const PreviousEvent* previous);
  // Writes hashes.csv and manifest.json when anything changed.
  void commit();

  const std::filesystem::path& path() const { return dir_; }
  std::size_t events() const { return manifest_.size(); }

 private:
  void load_manifest();
  void load_hashes();

  std::filesystem::path dir_;
  int lock_fd_ = -1;
  nlohmann::ordered_json manifest_ = nlohmann::ordered_json::object();
  std::map<std::string, std::vector<std::string>> hashes_;  // event uuid -> md5 of its values
  bool dirty_ = false;
};

// MD5 (hex) of each attribute value of the event, attributes first, then objects' in order: the
// lines of hashes.csv, and what PyMISP's feed generator computes.
std::vector<std::string> value_hashes(const MispEvent& e);

// Writes `text` to `path` through a temporary file in the same directory and a rename.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace d4::sharing::misp
