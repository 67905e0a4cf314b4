#pragma once
// echo_controller: a controller_actor that serves no model, for measuring and testing the ingress alone
// (`switchyard bench control-plane --ingress-only`, tests/unit/actors/ingress_broker_test.cpp). It answers
// infer at once with ok and the tokens as an f32 tensor for the models it was given, `rejected` /
// "unknown model '<name>'" otherwise. Requests for the model "slow" (when listed) are held until a drain
// message, which answers them: tests use that to fill the in-flight bound without sleeping. A generate
// request "generates" its prompt again (cycling) up to max_new_tokens, streaming each token first.
// Spawn from any thread; the actor lives in the given actor system.
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/controller.hpp"

namespace sy::actors {

messages::controller_actor spawn_echo_controller(caf::actor_system& sys, std::vector<std::string> models);

} // namespace sy::actors
