#pragma once
// CAF type registration of every message payload (names must match across nodes). Call
// add_message_types(cfg) on every actor_system_config before the actor system is created.
#include <caf/fwd.hpp>

namespace sy::messages {

/// Registers switchyard's message types (and typed actor handles) with `cfg`.
void add_message_types(caf::actor_system_config& cfg);

} // namespace sy::messages
