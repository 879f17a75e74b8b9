#include "server/unauth_budget.hpp"

#include <algorithm>

namespace d4::server {

UnauthenticatedBudget::Hold::Hold(Hold&& o) noexcept
    : budget_(o.budget_), key_(std::move(o.key_)), held_(o.held_) {
  o.budget_ = nullptr;
  o.held_ = 0;
}

UnauthenticatedBudget::Hold& UnauthenticatedBudget::Hold::operator=(Hold&& o) noexcept {
  if (this != &o) {
    reset();
    budget_ = o.budget_;
    key_ = std::move(o.key_);
    held_ = o.held_;
    o.budget_ = nullptr;
    o.held_ = 0;
  }
  return *this;
}

std::size_t UnauthenticatedBudget::Hold::room(const Limits& limits, Bite* bite) const {
  if (!budget_) return limits.total;
  std::lock_guard lock(budget_->mutex_);
  auto it = budget_->per_ip_.find(key_);
  std::size_t mine = it == budget_->per_ip_.end() ? 0 : it->second;
  std::size_t total_room = limits.total > budget_->total_ ? limits.total - budget_->total_ : 0;
  std::size_t ip_room = limits.per_ip > mine ? limits.per_ip - mine : 0;
  if (bite) *bite = ip_room == 0 ? Bite::PerIp : total_room == 0 ? Bite::Total : Bite::None;
  return std::min(total_room, ip_room);
}

void UnauthenticatedBudget::Hold::set(std::size_t bytes) {
  if (!budget_ || bytes == held_) return;
  budget_->change(key_, held_, bytes);
  held_ = bytes;
}

void UnauthenticatedBudget::Hold::reset() {
  set(0);
}

UnauthenticatedBudget::Hold UnauthenticatedBudget::hold(const core::IpAddress& peer) {
  // One host routinely owns a whole IPv6 /64: it shares one budget.
  std::string key = peer.is_v4() ? peer.to_string() : core::source_network(peer).to_string();
  return Hold(this, std::move(key));
}

void UnauthenticatedBudget::change(const std::string& key, std::size_t from, std::size_t to) {
  std::lock_guard lock(mutex_);
  total_ = total_ - from + to;
  auto& n = per_ip_[key];
  n = n - from + to;
  if (n == 0) per_ip_.erase(key);
}

std::size_t UnauthenticatedBudget::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

std::size_t UnauthenticatedBudget::peers() const {
  std::lock_guard lock(mutex_);
  return per_ip_.size();
}

}  // namespace d4::server
