// The `plugins:` key: a list of shared-library paths, resolved against the config's folder; with plug-ins,
// runtime policy names config does not know are left for the plug-in registry to check.
#include <catch2/catch.hpp>

#include "config/cluster_config.hpp"

using namespace sy;

namespace {

const std::string head = "nodes:\n  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 1, memory: 64MiB}}\n"
                         "models:\n  - {preset: tiny-gpt, weights: {seed: 1}}\n";

} // namespace

TEST_CASE("plugins are read in order, resolved against the config's folder, with their location") {
  auto c = config::parse_config(head + "plugins: [libone.so, sub/libtwo.so, /abs/libthree.so]\n"
                                       "policies: {dispatch: {name: my-dispatch, k: 2}, admission: none}\n",
                                "dir/c.yaml", "dir");
  REQUIRE(c);
  REQUIRE(c->plugins.size() == 3);
  CHECK(c->plugins[0].path == "dir/libone.so");
  CHECK(c->plugins[0].written == "libone.so");
  CHECK(c->plugins[0].where == "dir/c.yaml:5:11: plugins[0]");
  CHECK(c->plugins[1].path == "dir/sub/libtwo.so");
  CHECK(c->plugins[2].path == "/abs/libthree.so");
  CHECK(c->policies.dispatch.name == "my-dispatch"); // a plug-in's, checked when the plug-ins load
  CHECK(std::get<std::int64_t>(c->policies.dispatch.params.at("k")) == 2);
  CHECK(c->policies.dispatch.where == "dir/c.yaml:6:29");
  CHECK(c->policies.admission.name == "none");
}

TEST_CASE("a plugins entry that is not a list of paths is a located config error") {
  auto notlist = config::parse_config(head + "plugins: libone.so\n", "c.yaml");
  REQUIRE_FALSE(notlist);
  CHECK(notlist.err().message ==
        "c.yaml:5:10: plugins: expected a list of policy plug-in paths (shared libraries), found \"libone.so\"");
  auto empty = config::parse_config(head + "plugins: [\"\"]\n", "c.yaml");
  REQUIRE_FALSE(empty);
  CHECK(empty.err().message == "c.yaml:5:11: plugins[0]: expected a plug-in path (a shared library), found \"\"");
  auto nested = config::parse_config(head + "plugins: [[a]]\n", "c.yaml");
  REQUIRE_FALSE(nested);
  CHECK(nested.err().message.find("plugins[0]: expected a plug-in path") != std::string::npos);
}

TEST_CASE("the normalized config keeps the plugins as written, so that it parses back to the same paths") {
  auto c = config::parse_config(head + "plugins: [libone.so]\npolicies: {dispatch: my-dispatch}\n", "d/c.yaml", "d");
  REQUIRE(c);
  auto again = config::parse_config(config::to_yaml(*c), "d/c2.yaml", "d");
  REQUIRE(again);
  REQUIRE(again->plugins.size() == 1);
  CHECK(again->plugins[0].path == c->plugins[0].path);
  CHECK(again->policies.dispatch.name == "my-dispatch");
}
