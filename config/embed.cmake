# cmake -DIN=<yaml> -DOUT=<cpp> -P embed.cmake: writes a .cpp holding the file's text as a raw string.
file(READ "${IN}" text)
string(FIND "${text}" ")sy_yaml\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )sy_yaml\"")
endif()
set(content "// Generated from ${IN} by config/embed.cmake. Do not edit.\nnamespace sy::config::internal {\nextern const char* const local_yaml_text;\nconst char* const local_yaml_text = R\"sy_yaml(${text})sy_yaml\";\n} // namespace sy::config::internal\n")
file(WRITE "${OUT}.tmp" "${content}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
