/** What a method asks of a round's clients besides training (Method.beforeRound), and how an actor runs it. */

/** A method's request that a round's clients answer with their updates. */
export interface ProbeRequest {
  kind: string;
  payload: unknown;
}

/** A probe as a client actor runs it: the method's payload, the client's data and its model. */
export interface ProbeTask {
  payload: unknown;
  indices: Int32Array;
  /** The trainable vector the probe plugs in: the client's own, after its local training. */
  weights: Float32Array;
}
