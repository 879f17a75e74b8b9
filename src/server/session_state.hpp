#pragma once
// Where a sensor connection is in its life, as one value instead of a flag per step. Two
// independent axes: how far the peer got (only ever moves forward; a reject keeps it, so that
// the reject is recorded for what the peer proved) and whether and why the session is ending.
#include <cstdint>

namespace d4::server {

class SessionState {
 public:
  enum class Stage : std::uint8_t {
    Handshake,   // TLS handshake (plain TCP passes at once)
    Connected,   // reading; no header checked yet
    Claimed,     // a first header was read: its UUID and type are claimed, not proven
    Verified,    // a packet verified with the sensor's key: rejects are the sensor's own
    Identified,  // Redis recorded the session (the claim script answered): packets may be stored
  };
  enum class Ending : std::uint8_t {
    Open,        // running
    StreamOver,  // the read loop is over (the peer ended the stream): storing what was accepted
    Refused,     // closed for a reject (recorded once, the first reason wins)
    ShutDown,    // closed by the server's shutdown (not a reject)
  };

  Stage stage() const { return stage_; }
  void reach(Stage s) {
    if (s > stage_) stage_ = s;
  }
  bool header_seen() const { return stage_ >= Stage::Claimed; }
  bool verified() const { return stage_ >= Stage::Verified; }
  bool identified() const { return stage_ >= Stage::Identified; }

  Ending ending() const { return ending_; }
  // Refused or shut down: stop reading, store what was accepted, end.
  bool closing() const { return ending_ == Ending::Refused || ending_ == Ending::ShutDown; }
  // Timeouts, outages and rejects apply only while open.
  bool open() const { return ending_ == Ending::Open; }
  void end(Ending e) { ending_ = e; }

  // blacklist_ip_by_uuid names the claimed UUID: the peer's address is blocked once a packet
  // verifies (so that nobody can grow the blocklist by naming the UUID from many addresses).
  bool block_peer_once_verified = false;
  // The (uuid, type) slot and live-session records in Redis are held: released at the end.
  bool slot_claimed = false;

 private:
  Stage stage_ = Stage::Handshake;
  Ending ending_ = Ending::Open;
};

}  // namespace d4::server
