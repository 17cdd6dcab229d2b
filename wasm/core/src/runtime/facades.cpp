// The typed facades' calls into the runtime (rooms/room.h): each forwards
// to the Runtime that made the handle or the context.
#include <algorithm>

#include "runtime/instance.h"

namespace rooms {

// ---- ConnectionBase -----------------------------------------------------------

std::string_view ConnectionBase::id() const { return rec_->id; }
const std::vector<std::string>& ConnectionBase::tags() const { return rec_->tags; }
bool ConnectionBase::hasTag(std::string_view t) const {
  return std::find(rec_->tags.begin(), rec_->tags.end(), t) != rec_->tags.end();
}
bool ConnectionBase::isOpen() const { return rec_->isOpen(); }
std::string_view ConnectionBase::metaJson() const { return rec_->meta; }
Status ConnectionBase::close(std::uint32_t code, std::string_view reason) { return rt_->closeConn(*rec_, code, reason); }
Status ConnectionBase::join(std::string_view topic) { return rt_->joinTopic(*rec_, topic); }
Status ConnectionBase::leave(std::string_view topic) { return rt_->leaveTopic(*rec_, topic); }
const std::vector<std::string>& ConnectionBase::topics() { return rt_->topicsOf(*rec_); }
bool ConnectionBase::inTopic(std::string_view topic) {
  const auto& t = topics();
  return std::find(t.begin(), t.end(), topic) != t.end();
}
const void* ConnectionBase::stateValue() { return rt_->connectionState(*rec_); }
Status ConnectionBase::setStateValue(detail::AnyValue s) { return rt_->setConnectionState(*rec_, std::move(s)); }
Status ConnectionBase::sendValue(const void* msg) { return rt_->sendMsg(*rec_, msg); }

// ---- ConnectionsBase --------------------------------------------------------------

std::size_t ConnectionsBase::count() const { return rt_->table().order().size(); }
std::vector<ConnectionBase*> ConnectionsBase::allBase() const { return rt_->handlesOf(&rt_->table().order()); }
std::vector<ConnectionBase*> ConnectionsBase::byTagBase(std::string_view tag) const {
  return rt_->handlesOf(rt_->table().withTag(std::string(tag)));
}
ConnectionBase* ConnectionsBase::byIdBase(std::string_view id) const {
  auto* slots = rt_->table().withId(std::string(id));
  return slots ? rt_->handleOf(rt_->table().bySlot(slots->front())) : nullptr;
}
std::vector<ConnectionBase*> ConnectionsBase::inTopicBase(std::string_view topic) const {
  rt_->ensureTopics();
  return rt_->handlesOf(rt_->table().inTopic(std::string(topic)));
}

// ---- Timers ---------------------------------------------------------------------

Timestamp Timers::now() const { return rt_->now(); }
Status Timers::setAt(std::string_view name, Timestamp at) {
  return rt_->alarmClock().setTimer(name, static_cast<double>(epochMs(at)));
}
Status Timers::cancel(std::string_view name) { return rt_->alarmClock().cancelTimer(name); }
std::optional<Timestamp> Timers::next(std::string_view name) {
  auto t = rt_->alarmClock().timers().at(name);
  if (!t || name.empty() || name.front() == '$') return std::nullopt;
  return fromEpochMs(static_cast<std::int64_t>(std::llround(*t)));
}

// ---- CtxBase --------------------------------------------------------------------

std::string_view CtxBase::id() const { return rt_->id(); }
std::string_view CtxBase::name() const { return rt_->name(); }
Status CtxBase::scheduleAt(Timestamp at) {
  rt_->alarmClock().change().setSchedule(static_cast<double>(epochMs(at)));
  return {};
}
Status CtxBase::cancelSchedule() {
  rt_->alarmClock().change().setSchedule(std::nullopt);
  return {};
}
std::optional<Timestamp> CtxBase::nextAlarm() {
  auto t = rt_->alarmClock().schedule();
  if (!t) return std::nullopt;
  return fromEpochMs(static_cast<std::int64_t>(std::llround(*t)));
}
PurgeSignal CtxBase::purge() { return rt_->purge(); }
std::optional<std::string> CtxBase::env(std::string_view key) const { return rt_->host().env(key); }
Timestamp CtxBase::now() const { return rt_->now(); }
ConnectionBase* CtxBase::connectionBase() const { return rt_->handleOf(conn_); }
const void* CtxBase::stateValue() { return rt_->state(); }
Status CtxBase::saveValue(detail::AnyValue s) { return rt_->saveState(std::move(s)); }
Status CtxBase::broadcastValue(const void* msg, const detail::Selection& sel) { return rt_->broadcastMsg(msg, sel); }
detail::CallSink* CtxBase::calls() const { return rt_; }
void* CtxBase::serviceOf(const void* key) const { return rt_->registry().serviceOf(key); }

}  // namespace rooms
