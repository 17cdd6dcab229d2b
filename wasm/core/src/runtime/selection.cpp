#include "runtime/selection.h"

#include <algorithm>
#include <string>

#include "runtime/instance.h"

namespace rooms::detail {


std::pair<const std::uint32_t*, std::size_t> selectRecipients(const Selection& sel, const ConnectionTable& table,
                                                              RecipientScratch& scratch, BroadcastError& failed) {
  const auto& order = table.order();
  if (sel.base == Selection::Base::All && sel.except.size() <= 1) {
    if (sel.except.empty()) return {order.data(), order.size()};
    auto skip = std::find(order.begin(), order.end(), Runtime::recordOf(sel.except.front())->slot);
    scratch.list.assign(order.begin(), skip);
    if (skip != order.end()) scratch.list.insert(scratch.list.end(), skip + 1, order.end());
    return {scratch.list.data(), scratch.list.size()};
  }
  auto& mark = scratch.mark;
  mark.resize(table.slotCount());
  auto exclude = [&](std::uint8_t v) {
    for (auto* c : sel.except) mark[Runtime::recordOf(c)->slot] = v;
  };
  exclude(1);
  scratch.list.clear();
  auto consider = [&](std::uint32_t s) {
    if (mark[s]) return;
    mark[s] = 2;
    scratch.list.push_back(s);
  };
  switch (sel.base) {
    case Selection::Base::To:
      for (auto* h : sel.to) {
        ConnRecord* c = h ? Runtime::recordOf(h) : nullptr;
        if (!c || !c->isOpen()) failed.failures.push_back(SendError{c ? c->id : std::string(), "connection is not open"});
        else consider(c->slot);
      }
      break;
    case Selection::Base::Tag:
      if (auto* tagged = table.withTag(std::string(sel.name)))
        for (auto s : *tagged) consider(s);
      break;
    case Selection::Base::Topic:
      if (auto* members = table.inTopic(std::string(sel.name)))
        for (auto s : *members) consider(s);
      break;
    case Selection::Base::All:
      for (auto s : order) consider(s);
      break;
  }
  exclude(0);
  for (auto s : scratch.list) mark[s] = 0;
  return {scratch.list.data(), scratch.list.size()};
}

ResumeSelection storedSelection(const Selection& sel) {
  ResumeSelection out;
  using B = ResumeSelection::Base;
  switch (sel.base) {
    case Selection::Base::All: break;
    case Selection::Base::Tag:
      out.base = B::Tag;
      out.name = std::string(sel.name);
      break;
    case Selection::Base::Topic:
      out.base = B::Topic;
      out.name = std::string(sel.name);
      break;
    case Selection::Base::To:
      out.base = B::To;
      for (auto* h : sel.to)
        if (ConnRecord* c = h ? Runtime::recordOf(h) : nullptr; c && c->isOpen()) out.ids.push_back(c->id);
      break;
  }
  for (auto* h : sel.except) out.except.push_back(Runtime::recordOf(h)->id);
  return out;
}

}  // namespace rooms::detail
