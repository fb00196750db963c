site "a" {
	listen = ["127.0.0.1:1"]   
  command=["./a"] # a comment


  pool {
 max = 1
    min_idle    = 0
}
}