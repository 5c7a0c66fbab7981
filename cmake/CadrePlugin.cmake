# cadre_add_plugin(NAME SOURCES ...): a plugin as cadre loads it — a MODULE library named NAME.so
# (no "lib" prefix, so a scenario can say `path: NAME`), linked to cadre::plugin, exporting only
# what is marked visible (the entry point).
function(cadre_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES} ${P_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE cadre::plugin)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
endfunction()
