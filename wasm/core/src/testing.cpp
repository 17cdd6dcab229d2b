#include "rooms/testing.h"

#include <cstdio>
#include <cstdlib>

#include "runtime/effects.h"
#include "runtime/host.h"
#include "runtime/instance.h"

namespace rooms::testing {

// One room instance with its simulated platform.
struct Instance final : Host {
  InMemoryRuntime* rt = nullptr;
  std::string name, id;
  std::unique_ptr<RoomInstanceBase> core;
  std::map<std::string, std::string, std::less<>> storage;
  std::optional<double> alarm;
  // When the flush a FlushAfter effect asked for falls due (coalescing).
  std::optional<double> flushAt;
  int alarmRetry = 0;
  // slot → client end; kept across hibernation like the platform's sockets.
  std::map<std::uint32_t, std::unique_ptr<TestConnection>> sockets;
  // Client ends whose slot was reused; kept so tests' pointers stay valid.
  std::vector<std::unique_ptr<TestConnection>> closedSockets;

  double now() override {
    ++rt->clockReads_;
    return rt->now_;
  }
  std::string randomId() override { return "conn-" + std::to_string(rt->nextId_++); }
  std::optional<std::string> load(std::string_view key) override {
    auto it = storage.find(key);
    if (it == storage.end()) return std::nullopt;
    return it->second;
  }
  std::vector<ConnectionRecord> loadConnections() override;
  std::string loadAttachment(std::uint32_t slot) override;
  std::optional<double> autoResponseTime(std::uint32_t slot) override {
    auto it = sockets.find(slot);
    return it == sockets.end() ? std::nullopt : it->second->pingAt_;
  }
  std::optional<std::string> env(std::string_view key) override {
    auto it = rt->env_.find(key);
    if (it == rt->env_.end()) return std::nullopt;
    return it->second;
  }
};

Reply InMemoryRuntime::request(Instance& inst, const Call& fn) {
  std::uint32_t req = nextReq_++;
  EffectBatch batch;
  fn(core(inst), batch, req);
  apply(inst, batch);
  drainCloses();
  auto it = replies_.find(req);
  if (it == replies_.end()) return Reply{false, "Pending", "{}"};
  Reply r = std::move(it->second);
  replies_.erase(it);
  return r;
}

Result<TestConnection*> InMemoryRuntime::connectAs(const detail::RoomType& type, std::string_view id,
                                                   detail::Upgrade up) {
  Instance& inst = instance(type.name(), id);
  lastAccepted_ = nullptr;
  last_ = request(inst, [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) {
    static_cast<detail::Runtime&>(c).connect(req, std::move(up), b);
  });
  if (!last_.ok) return upgradeFailure(last_);
  return lastAccepted_;
}

std::vector<std::string> TestConnection::receivedTags() const {
  std::vector<std::string> out;
  json::Parser p;
  for (auto& f : received_) {
    if (p.parse(f, f.size() + 1)) continue;
    auto& v = p.root();
    auto m = v.IsObject() ? v.FindMember("_tag") : v.MemberEnd();
    out.push_back(v.IsObject() && m != v.MemberEnd() && m->value.IsString() ? m->value.GetString() : "");
  }
  return out;
}

void TestConnection::close(std::uint32_t code, std::string_view reason) {
  if (!open_) return;
  open_ = false;
  closeCode_ = code;
  closeReason_ = std::string(reason);
  closing_ = true;
  rt_->request(*inst_, [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t) { c.closed(slot_, code, reason, b); });
  closing_ = false;
}

void TestConnection::receiveRaw(std::string_view text) {
  if (!open_) return;
  if (const Heartbeat* hb = rt_->registry_.heartbeatOf(inst_->name); hb && text == hb->request) {
    received_.push_back(hb->response);
    pingAt_ = rt_->now_;
    return;
  }
  rt_->request(*inst_, [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t) { c.message(slot_, text, false, b); });
}

void TestConnection::receiveBinary(std::string_view bytes) {
  if (!open_) return;
  rt_->request(*inst_, [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t) { c.message(slot_, bytes, true, b); });
}

Reply RoomClient::send(std::string_view id, std::string_view eventJson) {
  return rt_->request(rt_->instance(name_, id),
                      [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) { c.send(req, eventJson, b); });
}
Reply RoomClient::getState(std::string_view id) {
  return rt_->request(rt_->instance(name_, id),
                      [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) { c.getState(req, b); });
}
Reply RoomClient::getConnections(std::string_view id, std::optional<std::string_view> tag) {
  return rt_->request(rt_->instance(name_, id),
                      [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) { c.getConnections(req, tag, b); });
}
Reply RoomClient::broadcast(std::string_view id, std::string_view msgJson) {
  return rt_->request(rt_->instance(name_, id),
                      [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) { c.broadcast(req, msgJson, b); });
}
Reply RoomClient::fireAlarm(std::string_view id) {
  return rt_->request(rt_->instance(name_, id),
                      [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) { c.fireAlarm(req, b); });
}
Reply RoomClient::upgrade(std::string_view id, std::string_view optsJson, TestConnection** conn) {
  rt_->lastAccepted_ = nullptr;
  Reply r = rt_->request(rt_->instance(name_, id),
                         [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) { c.upgrade(req, optsJson, b); });
  if (conn) *conn = r.ok ? rt_->lastAccepted_ : nullptr;
  return r;
}

std::vector<ConnectionRecord> Instance::loadConnections() {
  std::vector<ConnectionRecord> out;
  for (auto& [slot, s] : sockets) {
    if (!s->open_ && !s->closing_) continue;
    ConnectionRecord rec;
    rec.slot = slot;
    rec.tags.push_back(std::string(kIdTagPrefix) + s->id_);
    for (auto& t : s->tags_) rec.tags.push_back(t);
    out.push_back(std::move(rec));
  }
  return out;
}

std::string Instance::loadAttachment(std::uint32_t slot) {
  ++rt->attachmentLoads_;
  auto it = sockets.find(slot);
  return it == sockets.end() ? std::string() : it->second->attachment_;
}

InMemoryRuntime::InMemoryRuntime(const Registry& registry, double startMs) : registry_(registry), now_(startMs) {
  // A registry whose options make no sense serves nothing: say why, loudly.
  if (!registry.problems().empty()) {
    std::fputs("durable-rooms: the registry refused its room options:\n", stderr);
    for (auto& p : registry.problems()) std::fprintf(stderr, "  %s\n", p.c_str());
    std::abort();
  }
}
InMemoryRuntime::~InMemoryRuntime() = default;

Instance& InMemoryRuntime::instance(std::string_view name, std::string_view id) {
  std::string key = std::string(name) + '\n' + std::string(id);
  auto it = instances_.find(key);
  if (it != instances_.end()) return *it->second;
  auto inst = std::make_unique<Instance>();
  inst->rt = this;
  inst->name = std::string(name);
  inst->id = std::string(id);
  auto& ref = *inst;
  instances_.emplace(key, std::move(inst));
  return ref;
}

RoomInstanceBase& InMemoryRuntime::core(Instance& inst) {
  if (!inst.core) {
    auto created = registry_.create(inst.name, inst.id, inst);
    if (!created) {
      // A room type the registry lacks: stand in a core that refuses everything.
      struct Missing final : RoomInstanceBase {
        std::string n, i;
        std::string_view name() const override { return n; }
        std::string_view id() const override { return i; }
        void refuse(std::uint32_t req, EffectBatch& out) {
          Error e = RoomNotFoundError{n};
          out.reply(req, false, tagOf(e), errorToJson(e));
        }
        void upgrade(std::uint32_t r, std::string_view, EffectBatch& o) override { refuse(r, o); }
        void message(std::uint32_t, std::string_view, bool, EffectBatch&) override {}
        void closed(std::uint32_t, std::uint32_t, std::string_view, EffectBatch&) override {}
        void alarm(std::uint32_t r, int, bool, EffectBatch& o) override { refuse(r, o); }
        void fireAlarm(std::uint32_t r, EffectBatch& o) override { refuse(r, o); }
        void send(std::uint32_t r, std::string_view, EffectBatch& o) override { refuse(r, o); }
        void getState(std::uint32_t r, EffectBatch& o) override { refuse(r, o); }
        void getConnections(std::uint32_t r, std::optional<std::string_view>, EffectBatch& o) override { refuse(r, o); }
        void broadcast(std::uint32_t r, std::string_view, EffectBatch& o) override { refuse(r, o); }
        void resume(std::uint32_t, bool, std::string_view, std::string_view, EffectBatch&) override {}
        void flush(EffectBatch&) override {}
        std::size_t inFlight() const override { return 0; }
        std::size_t maxFrameBytes() const override { return 0; }
      };
      auto m = std::make_unique<Missing>();
      m->n = inst.name;
      m->i = inst.id;
      inst.core = std::move(m);
    } else {
      inst.core = std::move(created.value());
      ++constructions_;
    }
  }
  return *inst.core;
}

void InMemoryRuntime::apply(Instance& inst, const EffectBatch& batch) {
  EffectReader r(batch.data(), batch.size());
  Effect e;
  while (r.next(e)) {
    switch (e.kind) {
      case EffectKind::Accept: {
        auto c = std::make_unique<TestConnection>();
        c->rt_ = this;
        c->inst_ = &inst;
        c->slot_ = e.slot;
        for (auto t : e.tags) {
          if (t.substr(0, kIdTagPrefix.size()) == kIdTagPrefix) c->id_ = std::string(t.substr(kIdTagPrefix.size()));
          else c->tags_.emplace_back(t);
        }
        c->attachment_ = std::string(e.bytes);
        lastAccepted_ = c.get();
        auto& place = inst.sockets[e.slot];
        if (place) inst.closedSockets.push_back(std::move(place));
        place = std::move(c);
        break;
      }
      case EffectKind::Frame:
        for (auto s : e.slots) {
          auto it = inst.sockets.find(s);
          if (it != inst.sockets.end() && it->second->open_) it->second->received_.emplace_back(e.bytes);
        }
        break;
      case EffectKind::Close: {
        auto it = inst.sockets.find(e.slot);
        if (it != inst.sockets.end() && it->second->open_) {
          it->second->open_ = false;
          it->second->closeCode_ = e.code;
          it->second->closeReason_ = std::string(e.reason);
          // The client answers the close; the platform then reports it.
          pendingCloses_.push_back({&inst, e.slot, e.code, std::string(e.reason)});
        }
        break;
      }
      case EffectKind::Attach: {
        auto it = inst.sockets.find(e.slot);
        if (it != inst.sockets.end()) it->second->attachment_ = std::string(e.bytes);
        break;
      }
      case EffectKind::Put:
        ++storageOps_;
        storageBytes_ += e.key.size() + e.bytes.size();
        inst.storage[std::string(e.key)] = std::string(e.bytes);
        break;
      case EffectKind::Delete:
        ++storageOps_;
        storageBytes_ += e.key.size();
        inst.storage.erase(std::string(e.key));
        break;
      case EffectKind::SetAlarm:
        inst.alarm = e.time;
        inst.alarmRetry = 0;
        break;
      case EffectKind::ClearAlarm:
        inst.alarm.reset();
        break;
      case EffectKind::Call: {
        ++siblingCalls_;
        HeldCall call{&inst, e.callId, e.op, std::string(e.room), std::string(e.id),
                      std::string(e.bytes)};
        if (holdCalls_) heldCalls_.push_back(std::move(call));
        else runCall(call);
        break;
      }
      case EffectKind::Reply:
        replies_[e.req] = Reply{e.ok, std::string(e.tag), std::string(e.bytes)};
        break;
      case EffectKind::Log:
        logs_.emplace_back(e.bytes);
        break;
      case EffectKind::FlushAfter:
        if (!inst.flushAt) inst.flushAt = now_ + e.time;
        break;
    }
  }
}

Error InMemoryRuntime::upgradeFailure(const Reply& r) {
  if (r.tag != UpgradeError::tag) return RoomError{r.tag + ": " + r.payload};
  UpgradeError e{r.payload, 0};
  json::Parser p;
  if (!p.parse(r.payload, r.payload.size() + 1) && p.root().IsObject()) {
    auto& v = p.root();
    if (auto m = v.FindMember("message"); m != v.MemberEnd() && m->value.IsString()) e.message = m->value.GetString();
    if (auto m = v.FindMember("status"); m != v.MemberEnd() && m->value.IsNumber()) e.status = static_cast<int>(m->value.GetDouble());
  }
  return e;
}

void InMemoryRuntime::runCall(const HeldCall& call) {
  Instance& target = instance(call.room, call.id);
  Reply rep = request(target, [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) {
    switch (static_cast<CallOp>(call.op)) {
      case CallOp::Send: c.send(req, call.payload, b); break;
      case CallOp::GetState: c.getState(req, b); break;
      case CallOp::Broadcast: c.broadcast(req, call.payload, b); break;
    }
  });
  EffectBatch next;
  core(*call.inst).resume(call.callId, rep.ok, rep.tag, rep.payload, next);
  apply(*call.inst, next);
}

void InMemoryRuntime::releaseSiblingCalls() {
  holdCalls_ = false;
  while (!heldCalls_.empty()) {
    HeldCall call = std::move(heldCalls_.front());
    heldCalls_.erase(heldCalls_.begin());
    runCall(call);
  }
  drainCloses();
}

void InMemoryRuntime::drainCloses() {
  while (!pendingCloses_.empty()) {
    PendingClose pc = std::move(pendingCloses_.front());
    pendingCloses_.erase(pendingCloses_.begin());
    EffectBatch b;
    core(*pc.inst).closed(pc.slot, pc.code, pc.reason, b);
    apply(*pc.inst, b);
  }
}

void InMemoryRuntime::runFlush(Instance& inst) {
  inst.flushAt.reset();
  if (!inst.core) return;  // dropped with the instance: nothing was waiting
  request(inst, [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t) { c.flush(b); });
}

void InMemoryRuntime::advance(std::chrono::milliseconds d) {
  double target = now_ + static_cast<double>(d.count());
  for (;;) {
    // Flushes of coalesced frames that fall due before the next alarm.
    Instance* due = nullptr;
    for (auto& [_, inst] : instances_)
      if (inst->flushAt && *inst->flushAt <= target && (!due || *inst->flushAt < *due->flushAt)) due = inst.get();
    for (auto& [_, inst] : instances_)
      if (due && inst->alarm && *inst->alarm < *due->flushAt) due = nullptr;
    if (due) {
      if (*due->flushAt > now_) now_ = *due->flushAt;
      runFlush(*due);
      continue;
    }
    // The earliest due alarm across all instances.
    Instance* next = nullptr;
    for (auto& [_, inst] : instances_)
      if (inst->alarm && *inst->alarm <= target && (!next || *inst->alarm < *next->alarm)) next = inst.get();
    if (!next) break;
    if (*next->alarm > now_) now_ = *next->alarm;
    next->alarm.reset();
    int retry = next->alarmRetry;
    Reply r = request(*next, [&](RoomInstanceBase& c, EffectBatch& b, std::uint32_t req) {
      c.alarm(req, retry, retry > 0, b);
    });
    if (!r.ok && retry < 6 && !next->alarm) {
      next->alarm = now_ + 2000.0 * (1 << retry);
      next->alarmRetry = retry + 1;
    } else if (r.ok && !next->alarm) {
      next->alarmRetry = 0;
    }
  }
  now_ = target;
}

void InMemoryRuntime::hibernate() {
  for (auto& [_, inst] : instances_)
    if (inst->flushAt) runFlush(*inst);
  attachmentLoads_ = 0;
  for (auto& [_, inst] : instances_) inst->core.reset();
}

void InMemoryRuntime::restore(std::string_view name, std::string_view id, std::map<std::string, std::string> storage,
                              std::optional<double> alarm, std::vector<StoredSocket> sockets) {
  Instance& inst = instance(name, id);
  inst.core.reset();
  inst.storage.clear();
  for (auto& [k, v] : storage) inst.storage[k] = std::move(v);
  inst.alarm = alarm;
  inst.alarmRetry = 0;
  for (auto& s : sockets) {
    auto c = std::make_unique<TestConnection>();
    c->rt_ = this;
    c->inst_ = &inst;
    c->slot_ = s.slot;
    c->id_ = std::move(s.id);
    c->tags_ = std::move(s.tags);
    c->attachment_ = std::move(s.attachment);
    auto& place = inst.sockets[s.slot];
    if (place) inst.closedSockets.push_back(std::move(place));
    place = std::move(c);
  }
}

TestConnection* InMemoryRuntime::socket(std::string_view name, std::string_view id, std::uint32_t slot) {
  auto& sockets = instance(name, id).sockets;
  auto it = sockets.find(slot);
  return it == sockets.end() ? nullptr : it->second.get();
}

std::optional<Timestamp> InMemoryRuntime::alarmOf(std::string_view name, std::string_view id) {
  auto t = instance(name, id).alarm;
  if (!t) return std::nullopt;
  return fromEpochMs(static_cast<std::int64_t>(std::llround(*t)));
}

std::optional<std::string> InMemoryRuntime::stored(std::string_view name, std::string_view id, std::string_view key) {
  return instance(name, id).load(key);
}

}  // namespace rooms::testing
