# complete.bash SCRIPT: loads the completion SCRIPT as bash-completion
# would, completes $LINE (the cursor at its end; words split on spaces) with
# the function SCRIPT registered for the line's command, and prints
# COMPREPLY, one a line.
source "$1" || exit 2
read -ra COMP_WORDS <<<"$LINE"
[[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$LINE
COMP_POINT=${#LINE}
spec=$(complete -p "${COMP_WORDS[0]}") || exit 3
fn=${spec##*-F }
fn=${fn%% *}
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
