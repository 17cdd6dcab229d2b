// A broadcast's selection (rooms/broadcast.h, detail::Selection) read in one
// place: the recipients it names now, and the form a resumable room stores
// with the frame (resume.h) to replay it to a client that was away.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "rooms/broadcast.h"
#include "rooms/errors.h"
#include "runtime/connection_table.h"
#include "runtime/resume.h"

namespace rooms::detail {

// Scratch buffers reused across broadcasts (no allocation per event once grown).
struct RecipientScratch {
  std::vector<std::uint8_t> mark;  // per slot: 1 = excluded, 2 = already a recipient
  std::vector<std::uint32_t> list;
};

// The open recipients, in connect order (or the order of `to`), without
// duplicates. Everyone, or everyone but one, costs no per-recipient marking.
// Connections of `to` that are closed are reported in `failed`. A topic
// selection needs the topic index built (Runtime::ensureTopics).
std::pair<const std::uint32_t*, std::size_t> selectRecipients(const Selection& sel, const ConnectionTable& table,
                                                              RecipientScratch& scratch, BroadcastError& failed);

// What a resumable room stores: ids, not slots.
ResumeSelection storedSelection(const Selection& sel);

}  // namespace rooms::detail
