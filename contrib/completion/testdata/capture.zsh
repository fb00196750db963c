# capture.zsh DIR OUTDIR LINE...: in one interactive zsh on a
# pseudo-terminal, loads the completions in DIR (compinit), then for the
# Nth LINE types it and TAB, and writes each match that completion offers
# to OUTDIR/N, one a line, then "zsm-capture-end".
zmodload zsh/zpty || exit 2
local dir=$1 outdir=$2 line
shift 2
zpty z zsh -f -i
zpty -w z "PROMPT= ; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'compadd() { local -a __hits; builtin compadd -O __hits "$@"; (( $#__hits )) && print -rl -- $__hits >>$__out; builtin compadd "$@" }'
# TAB completes, then writes the marker: the matches are all written.
zpty -w z '_capture() { zle complete-word; print -r -- zsm-capture-end >>$__out }; zle -N _capture; bindkey "^I" _capture'
zpty -w z "zstyle ':completion:*' menu no"
integer n=0 i
for line in "$@"; do
  (( n++ ))
  zpty -w z "__out=${(q)outdir}/$n"
  zpty -w -n z "$line"$'\t'
  for (( i = 0; i < 600; i++ )); do   # at most 30 s
    [[ -r $outdir/$n && $(<$outdir/$n) == *zsm-capture-end* ]] && break
    zpty -r -t z line   # drain the terminal
    sleep 0.05
  done
  zpty -w -n z $'\C-e\C-u'  # clear the line for the next
done
zpty -d z
